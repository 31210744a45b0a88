"""Reading Dragonfish's answers.

Dragonfish matches request fields case-insensitively (the .NET model binder) but answers in
each entity's own casing, which is not uniform (`CUIT`, `EMail`, `NroDocumento`,
`SituacionFiscal`), and differs between versions. Every field of an answer is read here,
case-insensitively; nothing else in the connector indexes an answer by a literal key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any


def field(row: Any, name: str, default: Any = None) -> Any:
    """`row[name]`, whatever the answer's casing; `default` when absent or not an object."""
    if not isinstance(row, Mapping):
        return default
    if name in row:
        return row[name]
    lower = name.lower()
    for key, value in row.items():
        if isinstance(key, str) and key.lower() == lower:
            return value
    return default


def text(row: Any, name: str) -> str:
    """A field as trimmed text ("" when absent or null)."""
    value = field(row, name)
    return "" if value is None else str(value).strip()


def digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def fold(value: Any) -> str:
    """Case-, accent- and space-insensitive form, for matching names people typed."""
    decomposed = unicodedata.normalize("NFKD", str(value or ""))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(plain.split())


def name_key(value: Any) -> str:
    """A table description reduced for matching: folded, dots dropped ("C.U.I.T." is
    "cuit"), other punctuation as spaces."""
    plain = fold(value).replace(".", "")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def same_code(a: Any, b: Any) -> bool:
    """Codes compare trimmed and case-insensitively; numeric ones also ignoring leading
    zeros ("05" is 5, as an integer field answers it)."""
    x, y = (
        str(a if a is not None else "").strip().upper(),
        str(b if b is not None else "").strip().upper(),
    )
    if x.isdigit() and y.isdigit():
        return int(x) == int(y)
    return x == y


def results(envelope: Any) -> list[Any]:
    """The rows of a list answer (`Resultados`)."""
    rows = field(envelope, "Resultados")
    return rows if isinstance(rows, list) else []
