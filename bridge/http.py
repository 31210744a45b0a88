"""HTTP plumbing shared by the connectors: one pooled httpx client per side, a retry policy
(tenacity) that knows which failures a retry can help, and strict response decoding.

Retry rules (issue #2):
- 409 Conflict: up to `conflict_attempts` tries, `conflict_delay_s` apart (Dragonfish's
  vendor behaviour: 5 tries, 1 s apart).
- timeouts, connection errors, 5xx, malformed answers: bounded exponential backoff with
  jitter, `transient_attempts` tries.
- 429: wait what Retry-After says (capped), then try again.
- 401/403: AuthError at once. Other 4xx: DataError with the server's own message.
- A non-idempotent write whose reply was lost (read timeout, reset after sending, 5xx) is
  never retried here: it raises AmbiguousWriteError and the caller reconciles first.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential_jitter,
)

from bridge import __version__
from bridge.errors import (
    AmbiguousWriteError,
    AuthError,
    BridgeError,
    ConfigError,
    ConflictError,
    DataError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    TransientError,
)

USER_AGENT = f"Bridge/{__version__}"
# bodies larger than this are decoded on a worker thread
BIG_BODY = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    conflict_attempts: int = 5
    conflict_delay_s: float = 1.0
    transient_attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 120.0
    # one attempt of one request, whole answer included: httpx's timeouts are per read,
    # and a server trickling a byte at a time would never hit them
    request_deadline_s: float = 120.0


# Errors raised by httpx after which the request cannot have reached the server.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def make_client(base_url: str, *, timeout_s: float, verify: bool,
                headers: dict[str, str] | None = None, max_connections: int = 8) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
        verify=verify,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_connections),
        follow_redirects=False,
    )


def json_client(base_url: str, config: Any, *, max_connections: int = 8) -> httpx.AsyncClient:
    """The usual client of a JSON API connector: timeout and TLS checking from its config
    (`timeout_s`, `verify_tls`)."""
    return make_client(base_url, timeout_s=config.timeout_s, verify=config.verify_tls,
                       headers={"Accept": "application/json"}, max_connections=max_connections)


def html_title(text: str) -> str:
    m = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    if m:
        return " ".join(m.group(1).split())[:120]
    m = re.search(r"<h1>(.*?)</h1>", text, re.I | re.S)
    return " ".join(m.group(1).split())[:120] if m else ""


def looks_html(response: httpx.Response) -> bool:
    start = response.content[:200].lstrip().lower()
    return start.startswith((b"<!doctype", b"<html")) or \
        "text/html" in response.headers.get("content-type", "")


def decode_json(response: httpx.Response, side: str,
                shape: msgspec.json.Decoder[Any] | None = None) -> Any:
    """The body as JSON (decimals kept exact), or ProtocolError with a message that tells a
    person what came back instead.

    With `shape` (a msgspec decoder of the answer's expected structure, for big pages),
    a body of that shape decodes straight into it, skipping the fields it does not name
    (several times faster than building every field as a dict entry); any other body falls
    back to the generic decoding below, so the caller sees what is wrong item by item."""
    body = response.content
    if shape is not None:
        try:
            return shape.decode(body)
        except msgspec.MsgspecError:
            pass
    if looks_html(response) or body[:200].lstrip().startswith(b"<"):
        title = html_title(response.text)
        raise ProtocolError(
            f"{side} answered an HTML page instead of JSON (HTTP {response.status_code}"
            f"{': ' + title if title else ''}); a proxy or web server may be in the way",
            code="html_response", status=response.status_code)
    try:
        text = body.decode("utf-8")
        try:
            return json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError:
            raise
        except ValueError:
            # an integer of more than 4300 digits, which int() refuses: read as a Decimal,
            # so that the range checks where it is used refuse that record only
            return json.loads(text, parse_float=Decimal, parse_int=_json_int)
    except UnicodeDecodeError:
        raise ProtocolError(f"{side} answered a body that is not UTF-8 text",
                            code="bad_encoding", status=response.status_code) from None
    except json.JSONDecodeError as exc:
        what = "an empty body" if not body.strip() else "malformed JSON"
        raise ProtocolError(
            f"{side} answered {what} (HTTP {response.status_code}, {len(body)} bytes: "
            f"{exc.msg} at character {exc.pos})",
            code="malformed_json", status=response.status_code) from None


def _json_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= 4300 else Decimal(text)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify_status(response: httpx.Response, side: str, message: str,
                    *, write: bool) -> BridgeError:
    """The error for a non-2xx response; `message` is the server's own text."""
    status = response.status_code
    said = f": {message}" if message else ""
    if status == 401 or status == 403:
        return AuthError(
            f"{side} rejected the credentials (HTTP {status}{said}); the token is wrong or "
            "has expired — update it with `bridge secrets set`",
            code="auth_rejected", status=status, server_message=message)
    if status == 409:
        return ConflictError(f"{side} reported a conflict (HTTP 409{said})",
                             status=status, server_message=message)
    if status == 429:
        return RateLimitedError(f"{side} asked to slow down (HTTP 429{said})",
                                retry_after=_retry_after(response), status=status,
                                server_message=message)
    if status >= 500:
        if write:
            return AmbiguousWriteError(
                f"{side} failed while handling a write (HTTP {status}{said}); it will be "
                "checked before it is sent again", status=status, server_message=message)
        return TransientError(f"{side} is failing (HTTP {status}{said})",
                              status=status, server_message=message)
    if 300 <= status < 400:
        # never followed (a write must not be re-sent elsewhere): the URL in the settings is
        # not where the API answers (http/https, a path, a moved server), or a proxy
        # misbehaves; nothing about the data sent
        where = response.headers.get("location", "")
        return ConfigError(
            f"{side} answered a redirect (HTTP {status}{' to ' + where if where else ''}); "
            "the URL in the settings is probably not the API's (http vs https, the path, a "
            "moved server): Bridge does not follow redirects", code="redirected",
            status=status, server_message=message)
    if status == 404:
        return NotFoundError(f"{side}: not found (HTTP 404{said})", status=status,
                             server_message=message)
    return DataError(f"{side} refused the request (HTTP {status}{said})", status=status,
                     server_message=message)


class HttpSide:
    """One remote side (the store or an ERP): an httpx client plus the retry policy.

    `error_message(response)` extracts the server's own error text; connectors override it
    for their server's style.
    """

    side = "server"

    def __init__(self, client: httpx.AsyncClient, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.requests = 0

    async def aclose(self) -> None:
        await self.client.aclose()

    def error_message(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError):
            return html_title(response.text) or response.reason_phrase
        if isinstance(data, dict):
            for key in ("message", "Mensaje", "Message", "error_description", "error"):
                if isinstance(data.get(key), str):
                    return str(data[key])
        return response.reason_phrase

    def classify(self, response: httpx.Response, message: str, *,
                 write: bool) -> BridgeError:
        """The error for a non-2xx answer. Connectors override it for their server's own
        meaning of a status (a 409 that says "duplicate" rather than "busy", say)."""
        return classify_status(response, self.side, message, write=write)

    async def _once(self, method: str, url: str, *, write: bool, ok: Callable[[int], bool],
                    decode: bool, shape: msgspec.json.Decoder[Any] | None = None,
                    **kw: Any) -> httpx.Response:
        self.requests += 1
        deadline = self.policy.request_deadline_s
        try:
            async with asyncio.timeout(deadline):
                response = await self.client.request(method, url, **kw)
        except TimeoutError:
            slow = f"did not finish answering within {deadline:g} s (a very slow server)"
            if write:
                raise AmbiguousWriteError(f"{self.side} {slow} during a write; it will be "
                                          "checked before it is sent again") from None
            raise TransientError(f"{self.side} {slow}", code="timeout") from None
        except NOT_SENT as exc:
            raise TransientError(f"{self.side} is unreachable ({type(exc).__name__}: {exc})",
                                 code="unreachable") from None
        except httpx.TimeoutException as exc:
            if write:
                raise AmbiguousWriteError(
                    f"{self.side} did not answer a write in time ({type(exc).__name__}); it "
                    "will be checked before it is sent again") from None
            raise TransientError(f"{self.side} did not answer in time ({type(exc).__name__})",
                                 code="timeout") from None
        except httpx.TransportError as exc:
            if write:
                raise AmbiguousWriteError(
                    f"{self.side} dropped the connection during a write "
                    f"({type(exc).__name__}); it will be checked before it is sent again"
                ) from None
            raise TransientError(f"{self.side} dropped the connection ({type(exc).__name__})",
                                 code="connection_lost") from None
        if ok(response.status_code):
            if decode and 200 <= response.status_code < 300 and response.status_code != 204:
                try:
                    if len(response.content) > BIG_BODY:
                        # a big page: decode it off the loop's thread, so that a UI on the
                        # same loop keeps answering (the GIL switches every few ms)
                        data = await asyncio.to_thread(decode_json, response, self.side,
                                                      shape)
                    else:
                        data = decode_json(response, self.side, shape)
                    response.data = data  # type: ignore[attr-defined]
                except ProtocolError as exc:
                    if write:
                        raise AmbiguousWriteError(
                            f"{exc.message}, in reply to a write; it will be checked before "
                            "it is sent again", code=exc.code, status=exc.status) from None
                    raise
            return response
        error = self.classify(response, self.error_message(response), write=write)
        if looks_html(response):
            title = html_title(response.text)
            error.message = (f"{self.side} answered an HTML error page instead of JSON (HTTP "
                             f"{response.status_code}{': ' + title if title else ''}); a proxy "
                             "or web server in the way may be failing")
            if error.kind.value == "transient":
                error.code = "html_response"
        raise error

    def _stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ConflictError):
            return state.attempt_number >= self.policy.conflict_attempts
        return state.attempt_number >= self.policy.transient_attempts

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ConflictError):
            return self.policy.conflict_delay_s
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_retry_after_s)
        backoff = wait_exponential_jitter(multiplier=self.policy.backoff_initial_s,
                                          max=self.policy.backoff_max_s)
        return float(backoff(state))

    async def request(self, method: str, url: str, *, write: bool = False,
                      ok: Callable[[int], bool] = lambda s: 200 <= s < 300,
                      decode: bool = False, shape: msgspec.json.Decoder[Any] | None = None,
                      **kw: Any) -> httpx.Response:
        """Send with retries. `write=True` for non-idempotent requests. With `decode`, the
        body of a successful answer is decoded as JSON into `response.data` (a malformed
        answer to a read is retried like any transient failure)."""

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, TransientError) and not isinstance(exc, AmbiguousWriteError)

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            stop=self._stop,
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, url, write=write, ok=ok, decode=decode,
                                        shape=shape, **kw)
        raise AssertionError("unreachable")  # pragma: no cover

    async def call_json(self, method: str, url: str, **kw: Any) -> Any:
        response = await self.request(method, url, decode=True, **kw)
        return getattr(response, "data", None)
