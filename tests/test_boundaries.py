"""The import rules between Bridge's rooms (issue #13), checked twice: in a fresh
interpreter each, importing every module of a room loads none of the rooms it must not
depend on; and no import statement of a room names one, not even inside a function (an
import there loads only when that code runs, which the first check cannot see).

  bridge/      the engine: nothing of ui, connectors, sim, launcher; no Qt
  ui/          Qt: bridge only (no connector, no simulator)
  connectors/  bridge only (no ui, no simulator, no launcher)
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# imports every module of `room` (a package), then prints the loaded modules that belong
# to a forbidden top-level package, with the module of the room that was being imported
# when each first appeared
PROBE = r"""
import importlib, json, pkgutil, sys

room, forbidden = sys.argv[1], set(sys.argv[2].split(","))
package = importlib.import_module(room)
names = [room] + sorted(m.name for m in pkgutil.walk_packages(package.__path__, room + "."))
found = {}
for name in names:
    importlib.import_module(name)
    for loaded in list(sys.modules):
        if loaded.split(".")[0] in forbidden and loaded not in found:
            found[loaded] = name
print(json.dumps({"modules": names, "found": found}))
"""

RULES = {
    "bridge": ["ui", "connectors", "sim", "launcher", "PySide6", "qasync", "shiboken6"],
    "ui": ["connectors", "sim", "launcher"],
    "connectors": ["ui", "sim", "launcher", "PySide6", "qasync"],
    # a simulator follows the spec, never the client it tests
    "sim": ["connectors", "ui", "launcher", "PySide6", "qasync", "shiboken6"],
}


def loaded_by(room: str, forbidden: list[str]) -> tuple[list[str], dict[str, str]]:
    """The modules of `room` imported, and each forbidden module loaded (with the room's
    module whose import loaded it)."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, room, ",".join(forbidden)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return list(report["modules"]), dict(report["found"])


@pytest.mark.parametrize("room", sorted(RULES))
def test_a_room_loads_none_of_the_rooms_it_must_not_use(room: str) -> None:
    modules, found = loaded_by(room, RULES[room])
    assert len(modules) > 3, modules  # it did import them
    assert found == {}, "\n".join(
        f"{loaded} (loaded while importing {by})" for loaded, by in sorted(found.items())
    )


def forbidden_imports(room: str, forbidden: list[str]) -> list[str]:
    """`file:line: module` for each import statement of `room` naming a forbidden root."""
    out = []
    for path in sorted((ROOT / room).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            out += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in forbidden
            ]
    return out


@pytest.mark.parametrize("room", sorted(RULES))
def test_no_import_statement_of_a_room_names_a_forbidden_one(room: str) -> None:
    found = forbidden_imports(room, RULES[room])
    assert found == []
