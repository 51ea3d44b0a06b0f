"""Every benchmark script in experiments/ still imports and parses its options.

The scripts are run by hand (for hours), so a module they import that moved, or an option that
no longer parses, would otherwise be found only by the next person who runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SCRIPTS = sorted(p.name for p in EXPERIMENTS.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_runs(script):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(EXPERIMENTS / script), "--help"],
        capture_output=True,
        text=True,
        cwd=EXPERIMENTS.parent,
        env=env,
        timeout=600,  # generous: CI machines are busy; this guards imports, not speed
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()
