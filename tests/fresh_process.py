"""Run a snippet of Python in a new interpreter with the project's test settings: what
happens at process start (settings read from the environment, metrics files) cannot be seen
from inside the already-configured test process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_run(
    script: str, *, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``python -c script`` from the project root, in `env` (default: this environment),
    with ``vpnsite.settings.test`` unless `env` names other settings. Asserts it exited 0."""
    environment = dict(os.environ if env is None else env)
    environment.setdefault("DJANGO_SETTINGS_MODULE", "vpnsite.settings.test")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result
