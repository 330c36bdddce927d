"""Running the ``dicomvault`` command as an operator does: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(data_dir: Path, *args: str, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m dicomvault.cli ARGS`` on ``data_dir`` (no DICOMVAULT_* leaking in)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DICOMVAULT_")}
    clean["DICOMVAULT_DATA_DIR"] = str(data_dir)
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "dicomvault.cli", *args], env=clean,
                          text=True, capture_output=True, input=stdin, timeout=300,
                          check=False)
