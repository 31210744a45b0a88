"""Collect every string the UI translates — `_("...")` literals in ui/, the help texts of
the connectors' settings fields, and the check names shown by "Test connection" — and
update resources/i18n/*.json: new strings are added with an empty translation (which the
test suite reports), strings no longer used are dropped.

    .venv/bin/python scripts/i18n_extract.py
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHECK_NAMES = (
    "store reachable",
    "store token",
    "ERP reachable",
    "ERP token format",
    "ERP token expiry",
    "ERP token",
    "ERP stock query",
    "ERP price list",
    "swagger.json",
)


def ui_strings() -> set[str]:
    found: set[str] = set()
    for path in sorted((ROOT / "ui").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    from ui.settings import KNOWN_MESSAGES

    found.update(KNOWN_MESSAGES)
    import connectors
    from bridge.registry import erp_entry, erp_kinds

    connectors.register()
    for kind in erp_kinds():
        found.update(f.help for f in erp_entry(kind).fields if f.help)
        found.update(f.label for f in erp_entry(kind).fields)
        found.update(text for f in erp_entry(kind).fields for _, text in f.choices)
        found.add(erp_entry(kind).capabilities.no_orders_reason or "")
    found.discard("")
    found.update(CHECK_NAMES)
    return found


def main() -> int:
    strings = ui_strings()
    for path in sorted((ROOT / "resources" / "i18n").glob("*.json")):
        old = json.loads(path.read_text(encoding="utf-8"))
        new = {s: old.get(s, "") for s in sorted(strings)}
        path.write_text(json.dumps(new, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        missing = [s for s, t in new.items() if not t]
        print(f"{path.name}: {len(new)} strings, {len(missing)} without translation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
