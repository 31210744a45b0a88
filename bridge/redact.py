"""Redaction of secret values from any text that leaves the process (logs, events, errors
shown to people, diagnostics)."""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None

MASK = "***"
# Bearer tokens and JWT-looking strings are masked even when not registered.
_GENERIC = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def register(value: str | None) -> None:
    global _pattern
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _values:
            return
        _values.add(value)
        ordered = sorted(_values, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def redact(text: str) -> str:
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _GENERIC.sub(lambda m: (m.group(1) or "") + MASK, text)


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
