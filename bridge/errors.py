"""The engine's error taxonomy.

Every failure that reaches the engine is one of these, and each says what can help:
- TransientError: the other side is down, slow or busy; retrying later can help.
- AmbiguousWriteError: a write may or may not have been applied (the reply was lost);
  reconcile (look it up) before any resend.
- AuthError: the token was rejected or has expired; the merchant must fix credentials.
- DataError: the data is wrong (bad CUIT, unknown SKU, validation refused by the server);
  retrying the same data cannot help, the merchant must fix it.
- ProtocolError: the other side answered something that is not what its API promises
  (malformed JSON, an HTML error page): usually a proxy or a server fault, treated as
  transient, with a clear message.
- DuplicateError: the ERP refused a write as a duplicate of one it already has.

Messages are for people: they name the side, the operation and what was wrong, and never
carry secrets.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # retry later helps
    AUTH = "auth"  # fix credentials
    DATA = "data"  # fix the data
    CONFIG = "config"  # fix the configuration


class BridgeError(Exception):
    kind: FailureKind = FailureKind.TRANSIENT
    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        server_message: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.server_message = server_message
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind == FailureKind.TRANSIENT

    def __str__(self) -> str:
        return self.message


class TransientError(BridgeError):
    kind = FailureKind.TRANSIENT
    default_code = "unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ConflictError(TransientError):
    """HTTP 409: the server was busy with a concurrent write (Dragonfish)."""

    default_code = "conflict"


class RateLimitedError(TransientError):
    default_code = "rate_limited"


class ProtocolError(TransientError):
    default_code = "bad_response"


class AmbiguousWriteError(TransientError):
    default_code = "ambiguous_write"


class AuthError(BridgeError):
    kind = FailureKind.AUTH
    default_code = "auth"


class DataError(BridgeError):
    kind = FailureKind.DATA
    default_code = "invalid_data"


class NotFoundError(DataError):
    default_code = "not_found"


class DuplicateError(DataError):
    default_code = "duplicate"


class ConfigError(BridgeError):
    kind = FailureKind.CONFIG
    default_code = "config"


class OrderConfigError(ConfigError):
    """A setting that only this order needs is missing or wrong (say, the ERP's code for
    an IVA condition few buyers have): the order waits for the settings to change, and the
    other orders go on."""

    default_code = "order_config"
