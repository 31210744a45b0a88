"""Redaction of secret values from any text that leaves the process or is kept (logs,
events, errors shown to people or stored in the state file, e-mails, diagnostics).

Two kinds of values are registered:
- secrets (the keyring's tokens and passwords): kept for the life of the process;
- session tokens a connector obtains at run time (a login's access token): registered
  under a slot (e.g. "acqua.write"), of which the last SESSION_KEEP values are kept. A
  connector that renews its token every few minutes would otherwise grow the pattern
  without end, and every log line pays for its length; a token that many renewals old has
  expired long ago.

A server does not always quote a value the way it was sent: it may put it URL-encoded in
the title of an HTML error page, HTML-escaped, JSON-escaped inside a message that is itself
a JSON document, or upper-cased with the rest of its message. So each character of a value
is matched in any of the forms the usual encoders give it (itself, %XX of its UTF-8 bytes,
"+" for a space, an HTML character reference, a JSON escape), in any mix, and in any case.
How, quickly: the text is lower-cased character for character (spans in it are spans in the
text) and searched with one pattern of lower-case forms in which every alternative starts
with a literal character; the regex engine then skips positions where no secret can start
the way it does for plain strings. A form encoded twice (%252B) is not matched.
"""

from __future__ import annotations

import html.entities
import json
import logging
import re
import threading
from collections import deque

_lock = threading.Lock()
_values: set[str] = set()
_sessions: dict[str, deque[str]] = {}
_pattern: re.Pattern[str] | None = None

MASK = "***"
# session tokens kept per slot (the engine runs two clients of each side, each with its own
# token and the one it had before)
SESSION_KEEP = 8
# Bearer tokens and JWT-looking strings are masked even when not registered.
_GENERIC = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
)


def _named_references() -> dict[str, set[str]]:
    """HTML's named character references, lower-cased, by the one character they stand for
    ("&": amp;)."""
    names: dict[str, set[str]] = {}
    for name, char in html.entities.html5.items():
        if len(char) == 1 and name.endswith(";"):
            names.setdefault(char, set()).add(name.lower())
    return names


_NAMED = _named_references()


def _fold(text: str) -> str:
    """`text` lower-cased, one character for one, so that a span in it is the same span in
    `text`. ("İ" is the one character that lower-cases to two; it folds to "i".)"""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower()[0] for c in text)


def _char_forms(c: str) -> set[str]:
    """Regexes, of folded text, for the ways a server may write the character `c` of a
    secret: as it is, in another case, URL-encoded, HTML-escaped or JSON-escaped."""
    if c.isascii() and c.isalnum():
        return {c.lower()}  # no encoder changes a letter or a digit but its case
    forms = set()
    for variant in {c, c.lower(), c.upper()}:  # "ß".upper() is "SS": that one only as it is
        forms.add(re.escape(_fold(variant)))
        if len(variant) != 1:
            continue
        code = ord(variant)
        forms.add("".join(f"%{b:02x}" for b in variant.encode("utf-8", "surrogatepass")))
        forms.add(f"&#0*{code};")
        forms.add(f"&#x0*{code:x};")
        forms.update(re.escape(f"&{name}") for name in _NAMED.get(variant, ()))
        forms.add(re.escape(json.dumps(variant)[1:-1].lower()))  # \" \\ \n \ud83d\ude00
        if code < 0x10000:
            forms.add(re.escape(f"\\u{code:04x}"))  # \u0026, as some encoders write "&"
    if c == " ":
        forms.add(re.escape("+"))
    elif c == "/":
        forms.add(re.escape("\\/"))
    return forms


def _alternatives(value: str) -> list[str]:
    """The pattern for `value`, as one alternative per form of its first character, each
    followed by the rest: every alternative starts with a literal character."""
    rest = []
    for c in value[1:]:
        forms = _char_forms(c)
        rest.append(
            forms.pop()
            if len(forms) == 1
            else "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"
        )
    tail = "".join(rest)
    return [first + tail for first in sorted(_char_forms(value[0]), key=len, reverse=True)]


def register(value: str | None, *, slot: str | None = None) -> None:
    """Mask `value` from now on. With `slot`, it is a session token: only the last
    SESSION_KEEP values of that slot are kept."""
    global _pattern
    if not value or len(value) < 4:
        return
    with _lock:
        if slot is None:
            if value in _values:
                return
            _values.add(value)
        else:
            recent = _sessions.setdefault(slot, deque(maxlen=SESSION_KEEP))
            if value in recent:
                return
            recent.append(value)
        known = _values.union(*_sessions.values())
        # the longest first: a secret that contains another is masked whole
        ordered = sorted(known, key=len, reverse=True)
        _pattern = re.compile("|".join(a for v in ordered for a in _alternatives(v)))


def redact(text: str) -> str:
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = _mask(pattern, text)
    return _GENERIC.sub(lambda m: (m.group(1) or "") + MASK, text)


def _mask(pattern: re.Pattern[str], text: str) -> str:
    """`text` with every span where `pattern` matches its folded copy masked."""
    pieces: list[str] = []
    start = 0
    for m in pattern.finditer(_fold(text)):
        pieces += (text[start : m.start()], MASK)
        start = m.end()
    if not pieces:
        return text
    pieces.append(text[start:])
    return "".join(pieces)


def redact_optional(text: str | None) -> str | None:
    """redact() for a column that may be NULL."""
    return redact(text) if text else text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # formatted later by the handler: pre-format and redact it now
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True
