"""Development tools stay out of production: ``devtools`` is installed by the local and test
settings only, so no production module imports it (at any depth) and a production process has
neither loaded it nor an ``x3ui_simulator`` command.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

from django.core.management import get_commands

from tests.settings.test_production_settings import run

ROOT = Path(__file__).resolve().parents[2]
DEV_PACKAGE = "devtools"
# Who may import the development package: tests, benchmarks and the dev package itself.
NOT_PRODUCTION = {DEV_PACKAGE, "tests", "bench", "bin", "deploy", "docs", ".venv", "var"}


def production_packages() -> list[str]:
    """The project package and every Django app of the repository but the dev one."""
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")}
    return sorted((apps | {"vpnsite"}) - NOT_PRODUCTION)


def production_files() -> list[Path]:
    """Non-test Python files of the production packages, and the top-level entry points."""
    files = [ROOT / "manage.py", ROOT / "gunicorn.conf.py"]
    for package in production_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "tests" in rel.parts or path.name.startswith("test_") or path.name == "conftest.py":
                continue
            files.append(path)
    return files


def dev_imports(path: Path) -> list[str]:
    """``file:line`` of every import of the dev package: import statements (relative ones
    resolved), and ``importlib.import_module`` / ``__import__`` with a literal name."""

    def is_dev(module: str) -> bool:
        return module == DEV_PACKAGE or module.startswith(DEV_PACKAGE + ".")

    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                names = [str(first.value)]
        if any(is_dev(name) for name in names):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_checker_sees_every_kind_of_import(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import devtools\n"
        "from devtools.x3ui_simulator import X3UISimulator\n"
        "def f():\n"
        "    import devtools.x3ui_simulator.server\n"
        "    importlib.import_module('devtools.x3ui_simulator')\n"
        "import devtoolsmith\n"
        "from nodes import devtools_like\n"
    )
    assert dev_imports(sample) == [f"sample.py:{n}" for n in (1, 2, 4, 5)]


def test_no_production_module_imports_the_dev_package():
    packages = production_packages()
    assert {"core", "nodes", "billing", "vpnsite"} <= set(packages)
    assert DEV_PACKAGE not in packages
    offenders = [hit for path in production_files() for hit in dev_imports(path)]
    assert not offenders, f"production code imports {DEV_PACKAGE}: {offenders}"


PRODUCTION_PROCESS = """
import importlib, pkgutil, sys
import django
django.setup()
from django.conf import settings
from django.core.management import get_commands
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if ".tests" in info.name or info.name.rpartition(".")[2].startswith("test_"):
            continue
        importlib.import_module(info.name)
import vpnsite.celery, vpnsite.urls, vpnsite.wsgi
print("apps", "devtools" in settings.INSTALLED_APPS)
print("command", "x3ui_simulator" in get_commands())
print("loaded", sorted(m for m in sys.modules if m.split(".")[0] == "devtools"))
"""


def test_a_production_process_never_loads_the_dev_package():
    result = run(["-c", PRODUCTION_PROCESS, *production_packages()], {"LOG_LEVEL": "CRITICAL"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "apps False" in lines
    assert "command False" in lines
    assert "loaded []" in lines


def test_the_simulator_command_exists_where_it_is_used():
    """Tests run on vpnsite.settings.test; the e2e suite, the benchmarks and the README's
    demo run ``manage.py x3ui_simulator`` on vpnsite.settings.local."""
    assert get_commands()["x3ui_simulator"] == DEV_PACKAGE
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env["DJANGO_SETTINGS_MODULE"] = "vpnsite.settings.local"
    result = subprocess.run(
        [sys.executable, "manage.py", "x3ui_simulator", "--port", "0", "--exit-after", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "3x-ui simulator (v3.6.0, v3 API)" in result.stdout
