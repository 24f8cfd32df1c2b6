"""A real spreadsheet client reads our output: LibreOffice converts the rated sample to PDF.

`.ci/run` installs LibreOffice Calc (apt-get, --no-install-recommends); where
it is missing outside CI the test is skipped, in CI it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from xlabs import rate_workbook

SAMPLE = Path(__file__).resolve().parents[2] / "workbooks" / "consumer_sample.xlsx"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

pytestmark = pytest.mark.skipif(SOFFICE is None and not os.environ.get("CI"),
                                reason="LibreOffice is not installed (.ci/run installs it)")


def test_rated_sample_converts_to_pdf_with_pages(tmp_path):
    assert SOFFICE, "LibreOffice must be installed in CI (.ci/run)"
    rated = rate_workbook(SAMPLE, out=tmp_path / "sample.rated.xlsx").output
    profile = tmp_path / "lo-profile"
    cmd = [SOFFICE, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
           "--convert-to", "pdf", "--outdir", str(tmp_path), str(rated)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    pdf = tmp_path / "sample.rated.pdf"
    assert run.returncode == 0 and pdf.exists(), run.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages > 10, f"only {pages} pages"
