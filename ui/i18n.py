"""Translations. UI strings are written in English in the code, wrapped in `_()`, and
translated from a JSON catalog per language in resources/i18n/ (Spanish, es-AR, is the
default for Argentine merchants). A test checks that every `_()` string has its Spanish.

`_("Order {number} failed", number=n)` formats after translating; `plural()` picks the
singular or the plural of a text with a count.
"""

from __future__ import annotations

import json

from resources import resource_dir

CATALOG_DIR = resource_dir("i18n")
LANGUAGES = {"es_AR": "Español (Argentina)", "en": "English"}
DEFAULT_LANGUAGE = "es_AR"

_catalog: dict[str, str] = {}
_language = "en"


def load_catalog(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    path = CATALOG_DIR / f"{language}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def set_language(language: str) -> None:
    global _catalog, _language
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    _catalog = load_catalog(language)
    _language = language


def language() -> str:
    return _language


def _(text: str, **kw: object) -> str:
    translated = _catalog.get(text) or text
    return translated.format(**kw) if kw else translated


def plural(n: int, one: str, many: str, **kw: object) -> str:
    """The form for `n` of a text with a number in it, both forms already translated
    (`plural(n, _("{n} new problem"), _("{n} new problems"))`): Spanish and English both
    use the singular for exactly one."""
    return (one if n == 1 else many).format(n=n, **kw)
