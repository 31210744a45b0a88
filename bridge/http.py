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
import calendar
import contextlib
import hashlib
import html
import json
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential_jitter,
)

from bridge import __version__, redact
from bridge.config import ErpConfigBase, StoreConfig, normalize_pin
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


@dataclass(frozen=True)
class Reply:
    """An answer `HttpSide.request` accepted (a 2xx, or a status its `ok` allows): the
    status, the headers, and with `decode` the body decoded as JSON (`data`; None when not
    asked for, or for a non-2xx or 204 answer). `raw` is httpx's answer itself, for what
    reads the body another way."""

    status: int
    headers: httpx.Headers
    raw: httpx.Response
    data: Any = None

    @property
    def content(self) -> bytes:
        return self.raw.content

    @property
    def text(self) -> str:
        return self.raw.text


def _raw(answer: httpx.Response | Reply) -> httpx.Response:
    return answer.raw if isinstance(answer, Reply) else answer


# Errors raised by httpx after which the request cannot have reached the server.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# -- TLS (issue #11) --------------------------------------------------------------------------
# Per endpoint (the store, the ERP): `verify_tls` (the public CAs; false: nothing checked),
# `ca_file` (trust only this private CA's PEM, instead of the public ones) and `pin_sha256`
# (the SHA-256 fingerprint of the server's own certificate: with it, that certificate is the
# trust anchor, so a self-signed one is accepted; with a ca_file too, both must hold).
#
# A pin is checked inside the TLS handshake, before httpx writes a byte of the request (and
# so before any token leaves): the SSLContext makes its connections with SSLObject/SSLSocket
# subclasses (the documented `SSLContext.sslobject_class` / `sslsocket_class` hooks) whose
# do_handshake() compares the peer's certificate with the pin. httpx 0.28 has no public hook
# for it (no network backend parameter on its transports). What this relies on: httpcore
# (through anyio) makes its TLS connections with the context's wrap_bio() and calls
# do_handshake() before it writes (any TLS over memory buffers must), and httpx/httpcore keep
# the exception chain when they wrap the handshake's error (`_Transport` finds the pin error
# in it). tests/test_tls.py (a wrong pin: ConfigError, and no byte of the request reached the
# server) fails loudly if either changes.


class CertificatePinError(ssl.SSLCertVerificationError):
    """The server's certificate is not the pinned one (raised inside the handshake)."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            f"certificate SHA-256 fingerprint {got} does not match the pinned {expected}"
        )
        self.expected = expected
        self.got = got


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as browsers and `openssl x509
    -fingerprint -sha256` show it: upper-case hex pairs joined by ':' (the form
    `normalize_pin` gives a pin)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _check_pin(context: ssl.SSLContext, der: bytes | None) -> None:
    expected = context.pin if isinstance(context, PinnedContext) else ""
    got = fingerprint(der) if der else "(no certificate)"
    if got != expected:
        raise CertificatePinError(expected, got)


class _PinnedSSLObject(ssl.SSLObject):
    """TLS over memory buffers (asyncio, anyio: what httpx uses)."""

    def do_handshake(self) -> None:
        super().do_handshake()  # raises SSLWantReadError until the handshake is complete
        _check_pin(self.context, self.getpeercert(binary_form=True))


class _PinnedSSLSocket(ssl.SSLSocket):
    """TLS over a blocking socket (a synchronous client)."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_pin(self.context, self.getpeercert(binary_form=True))


class PinnedContext(ssl.SSLContext):
    """An SSLContext whose connections fail their handshake unless the server's certificate
    has the SHA-256 fingerprint `pin` (canonical form)."""

    pin: str = ""
    sslobject_class = _PinnedSSLObject
    sslsocket_class = _PinnedSSLSocket


def _read_ca_file(context: ssl.SSLContext, ca_file: str) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError:
        raise ConfigError(f"ca_file: no such file: {ca_file}", code="tls_ca_file") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"ca_file: {ca_file} is not a PEM file of CA certificates ({exc})", code="tls_ca_file"
        ) from None


def tls_context(*, ca_file: str = "", pin: str = "") -> ssl.SSLContext:
    """A client context: chain and host name checked against `ca_file` when one is given
    (else nothing is, unless a pin is given: then the pin is the check)."""
    context: ssl.SSLContext
    if pin:
        context = pinned = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        pinned.pin = normalize_pin(pin)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        _read_ca_file(context, ca_file)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def tls_verify(config: StoreConfig | ErpConfigBase) -> bool | ssl.SSLContext:
    """What httpx's `verify` gets for an endpoint's config (`verify_tls`, `ca_file`,
    `pin_sha256`): True (httpx's default: the public CAs), False, or a context."""
    if not config.ca_file and not config.pin_sha256:
        return config.verify_tls
    return tls_context(ca_file=config.ca_file, pin=config.pin_sha256)


def tls_mode(config: StoreConfig | ErpConfigBase) -> str:
    """How an endpoint's certificate is checked: 'pinned', 'private CA', 'verified' or
    'not verified'."""
    if config.pin_sha256:
        return "pinned"
    if config.ca_file:
        return "private CA"
    return "verified" if config.verify_tls else "not verified"


def _pin_error(exc: BaseException) -> CertificatePinError | None:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, CertificatePinError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


class _Transport(httpx.AsyncHTTPTransport):
    """httpx's transport, with a pin mismatch told as the settings problem it is (it comes
    out of httpx as a ConnectError, which would be retried as "unreachable")."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectError as exc:
            pin = _pin_error(exc)
            if pin is None:
                raise
            where = f"{request.url.host}:{request.url.port or 443}"
            raise ConfigError(
                f"the server at {where} presented a certificate whose SHA-256 fingerprint is "
                f"{pin.got}, not the pinned {pin.expected} (pin_sha256); nothing was sent. If "
                "the server's certificate was renewed, confirm the new fingerprint with its "
                "administrator and update pin_sha256",
                code="tls_pin_mismatch",
            ) from None


def make_client(
    base_url: str,
    *,
    timeout_s: float,
    verify: bool | ssl.SSLContext,
    headers: dict[str, str] | None = None,
    max_connections: int = 8,
) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
        verify=verify,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        limits=limits,
        follow_redirects=False,
        transport=_Transport(verify=verify, limits=limits),
    )


def json_client(base_url: str, config: Any, *, max_connections: int = 8) -> httpx.AsyncClient:
    """The usual client of a JSON API connector: timeout and TLS checking from its config
    (`timeout_s`, `verify_tls`, `ca_file`, `pin_sha256`)."""
    return make_client(
        base_url,
        timeout_s=config.timeout_s,
        verify=tls_verify(config),
        headers={"Accept": "application/json"},
        max_connections=max_connections,
    )


@dataclass(frozen=True)
class Certificate:
    """What a server presented: its SHA-256 fingerprint and when it expires (POSIX time;
    None when the certificate could not be read that far)."""

    fingerprint: str
    expires: float | None


def _der_item(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the value of the DER item at `pos`."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def certificate_expiry(der: bytes) -> float:
    """The notAfter of a DER X.509 certificate, as a POSIX time. The standard library reads
    it only from a certificate it verified; a pinned one is not, so it is read here (RFC
    5280 4.1: Certificate > TBSCertificate > [version], serial, signature, issuer, validity
    > notBefore, notAfter as UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ).
    ValueError on anything else."""
    try:
        _tag, pos, _end = _der_item(der, 0)  # Certificate
        _tag, pos, _end = _der_item(der, pos)  # TBSCertificate
        tag, _start, end = _der_item(der, pos)
        if tag == 0xA0:  # explicit version
            pos = end
        for _field in ("serial", "signature", "issuer"):
            pos = _der_item(der, pos)[2]
        _tag, pos, _end = _der_item(der, pos)  # Validity
        pos = _der_item(der, pos)[2]  # notBefore
        tag, start, end = _der_item(der, pos)
        text = der[start:end].decode("ascii")
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a DER certificate ({exc})") from None
    if tag == 0x17 and re.fullmatch(r"\d{12}Z", text):
        year = int(text[:2])
        text = str(year + (1900 if year >= 50 else 2000)) + text[2:]
    elif not (tag == 0x18 and re.fullmatch(r"\d{14}Z", text)):
        raise ValueError(f"unexpected notAfter {text!r}")
    n = [int(text[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))]
    return float(calendar.timegm((n[0], n[1], n[2], n[3], n[4], n[5], 0, 0, 0)))


async def fetch_certificate(url: str, *, ca_file: str = "", timeout_s: float = 10.0) -> Certificate:
    """Connect to `url`'s host and port, complete a TLS handshake (checked against
    `ca_file` when one is given, else not checked at all), and return the certificate the
    server presented. Nothing is sent over the connection. ConfigError for a URL that is
    not https, TransientError when the server cannot be reached or the handshake fails."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{url} is not an https:// URL: there is no certificate to check", code="tls_not_https"
        )
    host, port = parts.hostname, parts.port or 443
    context = tls_context(ca_file=ca_file)
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout_s
        )
    except (OSError, TimeoutError) as exc:
        raise TransientError(
            f"{host}:{port}: no TLS connection ({type(exc).__name__}: {exc})",
            code="tls_unreachable",
        ) from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2)
    if not der:
        raise ProtocolError(f"{host}:{port} presented no certificate", code="tls_no_cert")
    try:
        expires: float | None = certificate_expiry(der)
    except ValueError:
        expires = None
    return Certificate(fingerprint(der), expires)


def html_title(text: str) -> str:
    """The page's <title> (or first <h1>) as plain text: character references decoded,
    whitespace collapsed, at most 120 characters. A secret in it is masked before it is
    cut, so that no piece of one is left at the cut."""
    m = re.search(r"<title>(.*?)</title>", text, re.I | re.S) or re.search(
        r"<h1>(.*?)</h1>", text, re.I | re.S
    )
    if not m:
        return ""
    return redact.redact(" ".join(html.unescape(m.group(1)).split()))[:120]


def looks_html(answer: httpx.Response | Reply) -> bool:
    response = _raw(answer)
    start = response.content[:200].lstrip().lower()
    return start.startswith((b"<!doctype", b"<html")) or "text/html" in response.headers.get(
        "content-type", ""
    )


def decode_json(
    answer: httpx.Response | Reply, side: str, shape: msgspec.json.Decoder[Any] | None = None
) -> Any:
    """The body as JSON (decimals kept exact), or ProtocolError with a message that tells a
    person what came back instead.

    With `shape` (a msgspec decoder of the answer's expected structure, for big pages),
    a body of that shape decodes straight into it, skipping the fields it does not name
    (several times faster than building every field as a dict entry); any other body falls
    back to the generic decoding below, so the caller sees what is wrong item by item."""
    response = _raw(answer)
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
            code="html_response",
            status=response.status_code,
        )
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
        raise ProtocolError(
            f"{side} answered a body that is not UTF-8 text",
            code="bad_encoding",
            status=response.status_code,
        ) from None
    except RecursionError:
        raise ProtocolError(
            f"{side} answered JSON nested too deeply to be read (HTTP "
            f"{response.status_code}, {len(body)} bytes)",
            code="malformed_json",
            status=response.status_code,
        ) from None
    except json.JSONDecodeError as exc:
        what = "an empty body" if not body.strip() else "malformed JSON"
        raise ProtocolError(
            f"{side} answered {what} (HTTP {response.status_code}, {len(body)} bytes: "
            f"{exc.msg} at character {exc.pos})",
            code="malformed_json",
            status=response.status_code,
        ) from None


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


def classify_status(
    response: httpx.Response, side: str, message: str, *, write: bool
) -> BridgeError:
    """The error for a non-2xx response; `message` is the server's own text."""
    status = response.status_code
    said = f": {message}" if message else ""
    if status == 401 or status == 403:
        return AuthError(
            f"{side} rejected the credentials (HTTP {status}{said}); the token is wrong or "
            "has expired — update it with `bridge secrets set`",
            code="auth_rejected",
            status=status,
            server_message=message,
        )
    if status == 409:
        return ConflictError(
            f"{side} reported a conflict (HTTP 409{said})", status=status, server_message=message
        )
    if status == 429:
        return RateLimitedError(
            f"{side} asked to slow down (HTTP 429{said})",
            retry_after=_retry_after(response),
            status=status,
            server_message=message,
        )
    if status >= 500:
        if write:
            return AmbiguousWriteError(
                f"{side} failed while handling a write (HTTP {status}{said}); it will be "
                "checked before it is sent again",
                status=status,
                server_message=message,
            )
        return TransientError(
            f"{side} is failing (HTTP {status}{said})", status=status, server_message=message
        )
    if 300 <= status < 400:
        # never followed (a write must not be re-sent elsewhere): the URL in the settings is
        # not where the API answers (http/https, a path, a moved server), or a proxy
        # misbehaves; nothing about the data sent
        where = response.headers.get("location", "")
        return ConfigError(
            f"{side} answered a redirect (HTTP {status}{' to ' + where if where else ''}); "
            "the URL in the settings is probably not the API's (http vs https, the path, a "
            "moved server): Bridge does not follow redirects",
            code="redirected",
            status=status,
            server_message=message,
        )
    if status == 404:
        return NotFoundError(
            f"{side}: not found (HTTP 404{said})", status=status, server_message=message
        )
    return DataError(
        f"{side} refused the request (HTTP {status}{said})", status=status, server_message=message
    )


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

    def classify(self, response: httpx.Response, message: str, *, write: bool) -> BridgeError:
        """The error for a non-2xx answer. Connectors override it for their server's own
        meaning of a status (a 409 that says "duplicate" rather than "busy", say)."""
        return classify_status(response, self.side, message, write=write)

    async def _once(
        self,
        method: str,
        url: str,
        *,
        write: bool,
        ok: Callable[[int], bool],
        decode: bool,
        shape: msgspec.json.Decoder[Any] | None = None,
        **kw: Any,
    ) -> Reply:
        self.requests += 1
        deadline = self.policy.request_deadline_s
        try:
            async with asyncio.timeout(deadline):
                response = await self.client.request(method, url, **kw)
        except TimeoutError:
            slow = f"did not finish answering within {deadline:g} s (a very slow server)"
            if write:
                raise AmbiguousWriteError(
                    f"{self.side} {slow} during a write; it will be checked before it is sent again"
                ) from None
            raise TransientError(f"{self.side} {slow}", code="timeout") from None
        except NOT_SENT as exc:
            raise TransientError(
                f"{self.side} is unreachable ({type(exc).__name__}: {exc})", code="unreachable"
            ) from None
        except httpx.TimeoutException as exc:
            if write:
                raise AmbiguousWriteError(
                    f"{self.side} did not answer a write in time ({type(exc).__name__}); it "
                    "will be checked before it is sent again"
                ) from None
            raise TransientError(
                f"{self.side} did not answer in time ({type(exc).__name__})", code="timeout"
            ) from None
        except httpx.TransportError as exc:
            if write:
                raise AmbiguousWriteError(
                    f"{self.side} dropped the connection during a write "
                    f"({type(exc).__name__}); it will be checked before it is sent again"
                ) from None
            raise TransientError(
                f"{self.side} dropped the connection ({type(exc).__name__})", code="connection_lost"
            ) from None
        if ok(response.status_code):
            data = None
            if decode and 200 <= response.status_code < 300 and response.status_code != 204:
                try:
                    if len(response.content) > BIG_BODY:
                        # a big page: decode it off the loop's thread, so that a UI on the
                        # same loop keeps answering (the GIL switches every few ms)
                        data = await asyncio.to_thread(decode_json, response, self.side, shape)
                    else:
                        data = decode_json(response, self.side, shape)
                except ProtocolError as exc:
                    if write:
                        raise AmbiguousWriteError(
                            f"{exc.message}, in reply to a write; it will be checked before "
                            "it is sent again",
                            code=exc.code,
                            status=exc.status,
                        ) from None
                    raise
            return Reply(response.status_code, response.headers, response, data)
        error = self.classify(response, self.error_message(response), write=write)
        if looks_html(response):
            title = html_title(response.text)
            error.message = (
                f"{self.side} answered an HTML error page instead of JSON (HTTP "
                f"{response.status_code}{': ' + title if title else ''}); a proxy "
                "or web server in the way may be failing"
            )
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
        backoff = wait_exponential_jitter(
            multiplier=self.policy.backoff_initial_s, max=self.policy.backoff_max_s
        )
        return float(backoff(state))

    async def request(
        self,
        method: str,
        url: str,
        *,
        write: bool = False,
        ok: Callable[[int], bool] = lambda s: 200 <= s < 300,
        decode: bool = False,
        shape: msgspec.json.Decoder[Any] | None = None,
        **kw: Any,
    ) -> Reply:
        """Send with retries. `write=True` for non-idempotent requests. With `decode`, the
        body of a successful answer is decoded as JSON into `Reply.data` (a malformed
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
                return await self._once(
                    method, url, write=write, ok=ok, decode=decode, shape=shape, **kw
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def call_json(self, method: str, url: str, **kw: Any) -> Any:
        return (await self.request(method, url, decode=True, **kw)).data
