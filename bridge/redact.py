"""Redaction of secret values from any text that leaves the process or is kept (logs,
events, errors shown to people or stored in the state file, e-mails, diagnostics).

Two kinds of values are registered:
- secrets (the keyring's tokens and passwords): kept for the life of the process;
- session tokens a connector obtains at run time (a login's access token): registered
  under a slot (e.g. "acqua.write"), of which the last SESSION_KEEP values are kept. A
  connector that renews its token every few minutes would otherwise grow the pattern
  without end, and every log line pays for its length; a token that many renewals old has
  expired long ago.
"""

from __future__ import annotations

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
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


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
        ordered = sorted(known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _GENERIC.sub(lambda m: (m.group(1) or "") + MASK, text)


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
