"""xlabs: credit-rating engine for ABS (see README.md)."""

__version__ = "0.1.0"
