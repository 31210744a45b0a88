"""The simulators' boundary: `sim` imports `bridge` and nothing else of ours. A simulator
that borrowed its client's code (a token reader, a path table) would agree with that client
by construction, and a test of the client against it would prove nothing; nor may a
simulator need Qt (the demo runs headless, the benchmarks host them in a process of their
own)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import sim

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("connectors", "ui", "launcher", "PySide6", "shiboken6")

# In a fresh interpreter: import every module of `sim`, then list what got loaded of the
# packages no simulator may touch, and which of sim's modules were imported.
PROBE = """
import importlib, json, pkgutil, sys
import sim
names = sorted("sim." + m.name for m in pkgutil.iter_modules(sim.__path__))
for name in names:
    importlib.import_module(name)
forbidden = tuple(json.loads(sys.argv[1]))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({"imported": names, "forbidden": loaded}))
"""


def test_sim_imports_no_connector_no_ui_no_qt() -> None:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(FORBIDDEN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.strip().splitlines()[-1])
    # every module was imported (a module missing from the probe would hide its imports)
    expected = sorted("sim." + m.name for m in pkgutil.iter_modules(sim.__path__))
    assert found["imported"] == expected
    assert {"sim.kit", "sim.dragonfish", "sim.store", "sim.acqua"} <= set(expected)
    assert found["forbidden"] == [], (
        f"a simulator imports {found['forbidden']}: sim/ may import only bridge"
    )
