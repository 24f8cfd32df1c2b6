"""`python -m xlabs ...` is the `xlabs` command."""

import sys

from .cli import main

sys.exit(main())
