"""The connector kit (connectors/kit.py): the bearer-token session against a real loopback
server (a tiny aiohttp app: a login that issues tokens, an API that refuses any other), and
the ERP client base's redaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bridge import redact
from bridge.errors import AuthError
from bridge.http import HttpSide, RetryPolicy, make_client
from connectors.kit import BearerSession, ErpClient, Token

FAST = RetryPolicy(transient_attempts=1)


class TokenServer:
    """POST /login issues token t1, t2, ... (with `expires_in` when `lifetime` is set; 401
    with `refuse_login`); GET /data answers 200 to a valid token, 401 to any other (to all
    with `refuse_all`). `gate`, when set, holds every login until it is released."""

    def __init__(self) -> None:
        self.issued = 0
        self.valid: set[str] = set()
        self.lifetime: int | None = None
        self.gate: asyncio.Event | None = None
        self.login_waiting = asyncio.Event()
        self.data_statuses: list[int] = []
        self.refuse_all = False
        self.refuse_login = False
        self.refused_status = 401  # what a token it does not know gets

    async def login(self, request: web.Request) -> web.Response:
        if self.refuse_login:
            return web.json_response({"message": "wrong password"}, status=401)
        self.issued += 1
        token = f"t{self.issued}"
        if self.gate is not None:
            self.login_waiting.set()
            await self.gate.wait()
        self.valid.add(token)
        body: dict[str, Any] = {"token": token}
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        return web.json_response(body)

    async def data(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.refuse_all or token not in self.valid:
            self.data_statuses.append(self.refused_status)
            return web.json_response({"message": "token expired"}, status=self.refused_status)
        self.data_statuses.append(200)
        return web.json_response({"token": token})


@pytest.fixture
async def server() -> AsyncIterator[tuple[TokenServer, str]]:
    tokens = TokenServer()
    app = web.Application()
    app.router.add_post("/login", tokens.login)
    app.router.add_get("/data", tokens.data)
    http = TestServer(app, host="127.0.0.1")
    await http.start_server()
    try:
        yield tokens, str(http.make_url("/"))
    finally:
        await http.close()


@pytest.fixture
async def side(server: tuple[TokenServer, str]) -> AsyncIterator[HttpSide]:
    s = HttpSide(make_client(server[1], timeout_s=10, verify=False), FAST)
    try:
        yield s
    finally:
        await s.aclose()


def session_for(side: HttpSide, **kw: Any) -> BearerSession:
    async def login() -> Token:
        data = await side.call_json("POST", "login")
        lifetime = data.get("expires_in")
        return Token(data["token"], float(lifetime) if lifetime is not None else None)

    return BearerSession(login, **kw)


def getter(side: HttpSide) -> Any:
    async def send(token: Token) -> Any:
        return await side.call_json(
            "GET", "data", headers={"Authorization": f"Bearer {token.value}"}
        )

    return send


async def test_concurrent_callers_share_one_login(server, side):
    tokens, _ = server
    tokens.gate = asyncio.Event()
    session = session_for(side)
    calls = [asyncio.create_task(session.call(getter(side))) for _ in range(20)]
    await tokens.login_waiting.wait()  # the first login is at the server: hold it there
    await asyncio.sleep(0)  # every caller has reached the session by now
    tokens.gate.set()
    answers = await asyncio.gather(*calls)
    assert tokens.issued == 1 and session.logins == 1
    assert answers == [{"token": "t1"}] * 20 and tokens.data_statuses == [200] * 20


async def test_a_token_is_renewed_its_margin_before_it_expires(server, side):
    tokens, _ = server
    tokens.lifetime = 100
    now = [1000.0]
    session = session_for(side, margin=lambda lifetime: lifetime / 4, clock=lambda: now[0])
    assert await session.call(getter(side)) == {"token": "t1"}
    now[0] += 74.9  # within its lifetime less the margin: the same token
    assert await session.call(getter(side)) == {"token": "t1"}
    now[0] += 0.1  # 75 s of 100: renewed before the request, not after a 401
    assert await session.call(getter(side)) == {"token": "t2"}
    assert tokens.issued == 2 and 401 not in tokens.data_statuses


async def test_a_token_without_a_lifetime_is_kept_until_a_401(server, side):
    tokens, _ = server
    now = [0.0]
    session = session_for(side, clock=lambda: now[0])
    await session.call(getter(side))
    now[0] += 10**9
    assert await session.call(getter(side)) == {"token": "t1"} and tokens.issued == 1


async def test_a_401_renews_once_and_retries_once(server, side):
    tokens, _ = server
    session = session_for(side)
    await session.call(getter(side))
    tokens.valid.clear()  # the server dropped the token early: only a 401 tells
    assert await session.call(getter(side)) == {"token": "t2"}
    assert tokens.issued == 2 and tokens.data_statuses == [200, 401, 200]


async def test_only_a_401_renews_unless_the_connector_says_otherwise(server, side):
    """A 403 is the server's "not allowed", not "token expired": no new login by default;
    a connector whose servers answer an expired token with 403 (NonSistemas) asks for the
    renewal on it too."""
    tokens, _ = server
    tokens.refused_status = 403
    session = session_for(side)
    await session.call(getter(side))
    tokens.valid.clear()
    with pytest.raises(AuthError) as info:
        await session.call(getter(side))
    assert info.value.status == 403
    assert tokens.issued == 1 and tokens.data_statuses == [200, 403]
    answer = await session.call(getter(side), renew_on=lambda exc: True)
    assert answer == {"token": "t2"} and tokens.issued == 2
    assert tokens.data_statuses == [200, 403, 403, 200]


async def test_concurrent_401s_share_one_renewal(server, side):
    tokens, _ = server
    session = session_for(side)
    await session.call(getter(side))
    tokens.valid.clear()
    answers = await asyncio.gather(*(session.call(getter(side)) for _ in range(10)))
    assert answers == [{"token": "t2"}] * 10 and tokens.issued == 2


async def test_a_second_401_is_the_auth_error(server, side):
    tokens, _ = server
    session = session_for(side)
    tokens.refuse_all = True
    with pytest.raises(AuthError) as info:
        await session.call(getter(side))
    assert info.value.status == 401
    assert tokens.issued == 2 and tokens.data_statuses == [401, 401]


async def test_rejected_words_the_error_and_knows_it_came_after_a_renewal(server, side):
    tokens, _ = server
    session = session_for(side)
    tokens.refuse_all = True
    seen: list[bool] = []

    def rejected(exc: AuthError, renewed: bool) -> AuthError:
        seen.append(renewed)
        return AuthError(f"refused a token it had just issued ({exc.status})", code="x")

    with pytest.raises(AuthError) as info:
        await session.call(getter(side), rejected)
    assert info.value.code == "x" and "just issued" in info.value.message
    assert seen == [True] and tokens.issued == 2


async def test_a_refused_login_leaves_no_token(server, side):
    tokens, _ = server
    session = session_for(side)
    await session.call(getter(side))
    assert session.current() == Token("t1")

    tokens.refuse_login = True  # the password was changed meanwhile
    with pytest.raises(AuthError, match="wrong password"):
        await session.renew()
    assert session.current() is None
    tokens.refuse_login = False
    assert await session.call(getter(side)) == {"token": "t2"}


class _Client(ErpClient):
    side = "Test ERP"
    secret_names = ("erp.password", "erp.client_secret")

    def base_url(self) -> str:
        return self.config.base


async def test_erp_client_masks_its_secrets(server):
    class Cfg:
        base = server[1]
        timeout_s = 5.0
        verify_tls = False
        ca_file = ""
        pin_sha256 = ""
        concurrency = 2

    password, short = "kit-pass-8421", "abc"
    client = _Client(Cfg(), {"erp.password": password, "erp.client_secret": short})
    try:
        echoed = f"login of {password} with token tok-5531 failed (abc)"
        # every secret of the client, however short (Acqua's and NonSistemas' own scrubbers
        # masked any non-empty password; a mangled message beats a leaked password)
        assert client.scrub(echoed, "tok-5531") == "login of *** with token *** failed (***)"
        assert password not in redact.redact(echoed)  # registered at construction
        assert "(abc)" in redact.redact(echoed)  # the process-wide redaction skips short ones
        assert client.secrets == {"erp.password": password, "erp.client_secret": short}
        assert str(client.client.base_url) == server[1]
    finally:
        await client.aclose()
