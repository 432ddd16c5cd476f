"""The portable collector's import graph holds nothing of the analyzer (fast; no build needed).

Two checks: a static walk of every import statement (function-level ones included, as PyInstaller's
analysis sees them) from the collector's entry point through triage's own modules, and a run of the
entry point in a fresh interpreter whose ``sys.modules`` is then inspected. The built executable's
own table of contents is checked in test_build_linux.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _import_statements import import_statements

from triage.collector_main import COLLECTOR_COMMANDS, FORBIDDEN_MODULES, is_forbidden

REPO = Path(__file__).resolve().parents[2]

# Third-party packages the collector may import (setup.cfg install_requires, the 'raw' extra, and
# cryptography/requests for --encrypt-to/--upload); with the standard library, nothing else.
ALLOWED_THIRD_PARTY = {"yaml", "tqdm", "psutil", "pyfsntfs", "pyewf", "pyvshadow", "pyqcow",
                       "cryptography", "requests", "urllib3", "colorama"}


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(name: str, path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (lazy imports included)."""
    found: set[str] = set()
    for module, names, _line in import_statements(path, name):
        found.add(module)
        # 'from triage.bundle import manifest' names a sub-module too
        found.update(f"{module}.{n}" for n in names if _module_file(f"{module}.{n}"))
    return {m for m in found if m}


def collector_graph() -> tuple[set[str], set[str]]:
    """(triage modules reachable from the entry point, top-level non-triage modules they import)."""
    todo = ["triage.collector_main", *(module for module, _ in COLLECTOR_COMMANDS.values())]
    seen: set[str] = set()
    external: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        assert path is not None, f"{name} is imported but not found in the source tree"
        for mod in _imports(name, path):
            if mod.split(".")[0] == "triage":
                # a package import runs the package's __init__ first
                parts = mod.split(".")
                todo.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1) if _module_file(".".join(parts[:i])))
            else:
                external.add(mod.split(".")[0])
    return seen, external


def test_static_graph_has_no_analyzer_module():
    triage_modules, _ = collector_graph()
    assert "triage.commands.collect" in triage_modules and "triage.bundle.verify" in triage_modules
    assert sorted(m for m in triage_modules if is_forbidden(m)) == []


def test_static_graph_third_party_is_the_collectors_only():
    _, external = collector_graph()
    third_party = {m for m in external if m not in sys.stdlib_module_names and m != "__future__"}
    assert third_party <= ALLOWED_THIRD_PARTY, sorted(third_party - ALLOWED_THIRD_PARTY)
    assert not {m for m in external if is_forbidden(m)}


def test_the_static_walk_sees_lazy_imports():
    """The walk must see imports inside functions, or the checks above could pass vacuously."""
    imports = _imports("triage.commands.collect", _module_file("triage.commands.collect"))
    assert {"triage.collect.images", "triage.collect.vss", "triage.ship.encrypt", "triage.ship.client"} <= imports
    # and it does catch an analyzer import when one is there
    assert is_forbidden("triage.parsers.evtx.parser") and is_forbidden("yara") and not is_forbidden("yaml")
    assert any(is_forbidden(m) for m in _imports("triage.commands.analyze", _module_file("triage.commands.analyze")))


_PROBE = r"""
import importlib, json, sys
from triage import collector_main
rc = collector_main.main(["profiles", "list"])
for module, _ in collector_main.COLLECTOR_COMMANDS.values():
    importlib.import_module(module)
# what a collection, a verification and a recovery import when they run
for module in ("triage.collect.collector", "triage.collect.expand", "triage.collect.source",
               "triage.collect.images", "triage.collect.vss", "triage.collect.volatile",
               "triage.collect.fallback", "triage.bundle.verify", "triage.bundle.recover"):
    importlib.import_module(module)
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def test_running_the_entry_point_loads_no_analyzer_module():
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert "windows-triage" in proc.stdout
    modules = result["modules"]
    assert "triage.collect.collector" in modules
    assert [m for m in modules if is_forbidden(m)] == []


def test_collector_command_table_is_restricted():
    assert set(COLLECTOR_COMMANDS) == {"collect", "verify", "recover", "profiles"}
    proc = subprocess.run([sys.executable, "-m", "triage.collector_main", "analyze"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice: 'analyze'" in proc.stderr
    # the installed CLI's table is untouched by the collector's
    from triage import cli

    assert "analyze" in cli.COMMANDS
    assert all(f.split(".")[0] != "triage" or f.startswith("triage.") for f in FORBIDDEN_MODULES)
