"""The apps keep their layers (docs/architecture.md): bin/import-graph --check passes, and it
fails on an import that goes up a layer."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _graph(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / "bin" / "import-graph"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_import_between_apps_goes_down_a_layer():
    result = _graph("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "layers: OK" in result.stdout


def test_an_import_up_a_layer_fails_the_check(tmp_path):
    # A copy of the tree where core (the ground) imports billing: the check must refuse it.
    tree = tmp_path / "tree"
    for path in ROOT.glob("*/apps.py"):
        app = path.parent
        target = tree / app.name
        target.mkdir(parents=True)
        for source in app.rglob("*.py"):
            if ".venv" in source.parts or "tests" in source.parts:
                continue
            destination = target / source.relative_to(app)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(source.read_bytes())
    (tree / "bin").mkdir()
    (tree / "bin" / "import-graph").write_bytes((ROOT / "bin" / "import-graph").read_bytes())
    assert _graph("--check", root=tree).returncode == 0
    (tree / "core" / "upward.py").write_text("from billing.models import Payment  # noqa\n")
    result = _graph("--check", root=tree)
    assert result.returncode == 1
    assert "core -> billing: 1" in result.stdout
