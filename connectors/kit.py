"""What the ERP connectors share: a bearer-token session, a base class for an ERP's HTTP
client, and the parsing of the numbers ERPs send.

- `BearerSession`: a token obtained by a login, shared by every request of a client. One
  login at a time (the requests that need a token while it runs wait for it and use it), a
  token renewed `margin` seconds before its lifetime runs out, and, when the server answers
  401 (the token expired early, or was revoked), one new login and one more try: a 401
  means the server did not act on the request, so even a write is safe to repeat. A second
  401 is the caller's auth error.
- `ErpClient`: an `HttpSide` that owns the constructor (config, secrets, retry policy, the
  pooled HTTP client), the write lock (one write at a time) and the secrets' redaction.
- `parse_number`, `parse_text_number`, `json_number`: numbers as ERPs send them and as
  JSON bodies take them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar

import httpx

from bridge import redact
from bridge.errors import AuthError
from bridge.http import HttpSide, RetryPolicy, json_client
from bridge.model import Capabilities

T = TypeVar("T")


# -- bearer session ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    """What a login gave: the token, how long it lives (seconds; None: until the server
    refuses it), and where the API calls go when the login says so (an OAuth server's
    `instance_url`)."""

    value: str
    lifetime_s: float | None = None
    base_url: str = ""


@dataclass(frozen=True)
class _Held:
    token: Token
    renew_at: float | None  # on the session's clock; None: never before a 401


class BearerSession:
    """One bearer token for a client's requests (see the module's docstring).

    `login` obtains a new token (its errors are the caller's: a refused login says why).
    `margin(lifetime)` says how long before the end of its lifetime a token is renewed
    (default: at the end). `clock` is monotonic seconds."""

    def __init__(
        self,
        login: Callable[[], Awaitable[Token]],
        *,
        margin: Callable[[float], float] = lambda lifetime: 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._login = login
        self.margin = margin
        self.clock = clock
        self._held: _Held | None = None
        self._lock = asyncio.Lock()
        self.logins = 0

    def _usable(self) -> _Held | None:
        held = self._held
        if held is None or (held.renew_at is not None and self.clock() >= held.renew_at):
            return None
        return held

    async def _new(self) -> _Held:
        """A login (the lock held). A failed login leaves no token behind."""
        self._held = None
        self.logins += 1
        token = await self._login()
        renew_at = None
        if token.lifetime_s is not None:
            renew_at = self.clock() + token.lifetime_s - self.margin(token.lifetime_s)
        self._held = _Held(token, renew_at)
        return self._held

    async def token(self) -> Token:
        """The current token; a login first when there is none or it is about to expire."""
        held = self._usable()
        if held is not None:
            return held.token
        async with self._lock:
            held = self._usable() or await self._new()
            return held.token

    async def renew(self, stale: Token | None = None) -> Token:
        """A new token: after `stale` was refused (unless another request already replaced
        it: then that one), or, with no `stale`, a new login whatever is held (a new sync
        session; the credentials as they are now)."""
        async with self._lock:
            held = self._held
            if stale is None or held is None or held.token is stale:
                held = await self._new()
            return held.token

    def current(self) -> Token | None:
        """The token held (even one about to expire), if any."""
        return self._held.token if self._held is not None else None

    async def call(
        self,
        send: Callable[[Token], Awaitable[T]],
        rejected: Callable[[AuthError, bool], BaseException] | None = None,
        renew_on: Callable[[AuthError], bool] = lambda exc: exc.status == 401,
    ) -> T:
        """`send(token)`; after a 401, once more with a new token. An AuthError that ends
        the call (any but that first 401) becomes `rejected(error, renewed)` when given
        (`renewed`: it came after the new token; the caller's words for "the server refused
        a token it had just issued"), else is raised as it is. A refused login raises its
        own error."""
        token = await self.token()
        try:
            return await send(token)
        except AuthError as exc:
            if not renew_on(exc):
                raise exc if rejected is None else rejected(exc, False) from None
        token = await self.renew(token)
        try:
            return await send(token)
        except AuthError as exc:
            raise exc if rejected is None else rejected(exc, True) from None


# -- the ERP client base -----------------------------------------------------------------------
class ErpClient(HttpSide):
    """An ERP reached over HTTP: `config` (an ERP config with `timeout_s` and the TLS
    settings), the `secret_names` it reads from `secrets` (each registered with the
    redactor), one pooled httpx client (`http_client` makes it, unless one is given), and
    `write_lock`, which a connector holds around a write the ERP must get one at a time."""

    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # the keyring secrets this client reads (a missing one is "")
    secret_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: Any,
        secrets: Mapping[str, str],
        policy: RetryPolicy | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.secrets = {name: secrets.get(name, "") for name in self.secret_names}
        for value in self.secrets.values():
            redact.register(value)
        super().__init__(client or self.http_client(), policy)
        self.write_lock = asyncio.Lock()

    def base_url(self) -> str:
        """Where the API answers (the pooled client's base URL)."""
        return str(self.config.url)

    def http_client(self) -> httpx.AsyncClient:
        """The pooled client: JSON, the config's timeout and TLS checking, a connection per
        page in flight (the config's `concurrency`) and two more."""
        return json_client(
            self.base_url(), self.config, max_connections=self.config.concurrency + 2
        )

    def scrub(self, text: str, *extra: str | None) -> str:
        """`text` without any of this client's secrets (nor the `extra` values: a session
        token), whatever a server echoed. Every one, however short: a message mangled by a
        masked two-letter password is better than the password in an error, a log line or
        an alert (the process-wide redaction leaves values under 4 characters alone)."""
        for secret in (*self.secrets.values(), *extra):
            if secret:
                text = text.replace(secret, redact.MASK)
        return text


# -- numbers -----------------------------------------------------------------------------------
# "1234", "-3", "1234.5", "1234,50"
_PLAIN = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
# "1.234.567,50" (dots group thousands, comma for decimals)
_DOT_GROUPS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
# "1,234,567.50"
_COMMA_GROUPS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def parse_number(value: Any) -> Decimal | None:
    """A finite number from a JSON number or a numeric text (decimal point or comma,
    optional thousands grouping); None for anything else (NaN, Infinity, garbage, bools).
    A lone comma is a decimal comma: "1,234" is 1.234."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "").replace("\u00a0", "")
    if _PLAIN.match(text):
        text = text.replace(",", ".")
    elif _DOT_GROUPS.match(text):
        text = text.replace(".", "").replace(",", ".")
    elif _COMMA_GROUPS.match(text):
        text = text.replace(",", "")
    else:
        return None
    return Decimal(text)


def parse_text_number(text: str, decimal_comma: bool) -> Decimal:
    """A number as a spreadsheet exports it ("$ 1.234,50", "1,234.50", "1234"): with both
    separators the last one is the decimal one; a lone comma is the decimal one only with
    `decimal_comma` (else it groups thousands). ValueError for anything else."""
    raw = text.strip().replace(" ", "").replace("$", "")
    if not raw:
        raise ValueError("empty")
    if "," in raw and "." in raw:
        # the last separator is the decimal one: 1.234,50 or 1,234.50
        if raw.rfind(",") > raw.rfind("."):
            raw = raw.replace(".", "").replace(",", ".")
        else:
            raw = raw.replace(",", "")
    elif "," in raw:
        raw = raw.replace(",", ".") if decimal_comma else raw.replace(",", "")
    elif "." in raw and decimal_comma and raw.count(".") > 1:
        raw = raw.replace(".", "")  # 1.234.567 (thousands)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def json_number(value: Decimal) -> int | float:
    """A Decimal for a JSON body (httpx's encoder knows no Decimal)."""
    return int(value) if value == value.to_integral_value() else float(value)
