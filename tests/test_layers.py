"""The pack's structure is checked, not only described: the layers contract and the ban on
import cycles in pyproject.toml hold (import-linter, imports inside functions included)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_layers_follow_the_jobs_path_and_no_module_imports_in_a_circle():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 2 kept, 0 broken." in run.stdout
