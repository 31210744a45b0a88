"""Secrets never kept or shown, whatever path they came by: a token a server echoes in its
error text is masked in the state file (errors, outbox, runs), in what Bridge tells the
store, in `bridge status`, in the alert e-mail and in the diagnostics zip, and so is a token
a server echoes URL-encoded, HTML-escaped, JSON-escaped or upper-cased; session tokens
that connectors obtain at run time (a login's answer) are masked from the moment they are
obtained; `bridge status` masks what an older Bridge stored; `bridge doctor` masks what a
check quotes. Real simulators on loopback sockets, real SQLite files."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import secrets as random_secrets
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bridge import redact
from bridge.alerts import build_digest
from bridge.config import Paths, load_config, parse_config, save_config
from bridge.diagnostics import write_zip
from bridge.engine import Engine
from bridge.http import html_title
from bridge.secrets import SecretStore
from bridge.state import State
from connectors.salesforce_vs.client import SalesforceVSClient
from connectors.salesforce_vs.config import SalesforceVSConfig
from sim.catalog import SimCatalog
from sim.dragonfish import DragonfishSimulator
from sim.kit import SimServer
from sim.nonsistemas import NonSistemasSimulator
from sim.salesforce_vs import SalesforceVSSimulator
from sim.store import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN, WRITE_ROUTE, make_engine, write_profile

BRIDGE = [sys.executable, "-m", "launcher"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unique(tag: str) -> str:
    """A token nobody registered with the redactor yet (it is process-wide), shaped like
    neither a JWT nor a Bearer header (those are masked even unregistered)."""
    value = f"{tag}-{os.getpid()}-{time.monotonic_ns()}"
    assert redact.redact(value) == value
    return value


def echo_token(sim: SimServer, route: str, *, status: int = 400, key: str = "message") -> list[str]:
    """Make `sim` answer requests to `route` with an error whose text quotes the token the
    request carried, as some servers do. Call before the simulator starts. Returns the
    tokens echoed (so a test knows the exact value to look for)."""
    echoed: list[str] = []

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if sim.route_name(request) != route:
            return await handler(request)
        scheme, _sp, rest = request.headers.get("Authorization", "").partition(" ")
        token = rest or scheme  # "Bearer <token>", or Dragonfish's bare token
        echoed.append(token)
        return web.json_response({key: f"invalid token {token}"}, status=status)

    sim.app.middlewares.append(middleware)
    return echoed


def rows(paths: Paths, sql: str) -> list[tuple[Any, ...]]:
    """Straight from the state file, past any code of Bridge's."""
    db = sqlite3.connect(f"file:{paths.db_file}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def stored_text(paths: Paths) -> str:
    """Every text column Bridge writes from outside sources."""
    parts = rows(paths, "SELECT message, COALESCE(server_message, '') FROM errors")
    parts += rows(
        paths, "SELECT COALESCE(last_error, ''), COALESCE(server_message, '') FROM outbox"
    )
    parts += rows(paths, "SELECT COALESCE(message, '') FROM runs")
    parts += rows(paths, "SELECT message, COALESCE(data, '') FROM events")
    return "\n".join(" | ".join(str(v) for v in r) for r in parts)


def zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return "\n".join(zf.read(n).decode("utf-8") for n in zf.namelist())


# -- a keyring token echoed by the ERP -------------------------------------------------------------
async def test_a_token_the_erp_echoes_is_masked_wherever_it_goes(
    tmp_path: Path, sim_catalog: SimCatalog, store_sim: StoreSimulator, capsys
) -> None:
    token = unique("df-plain-token")
    erp = DragonfishSimulator(catalog=sim_catalog, write_hold_s=0.0, token=token)
    echoed = echo_token(erp, WRITE_ROUTE["operacion"], key="Mensaje")
    await erp.start()
    try:
        paths = write_profile(tmp_path, store_sim.base_url, erp.base_url, erp.cliente)
        engine = make_engine(paths, erp)
        try:
            order = store_sim.add_order()
            [result] = await engine.sync_now("orders")
            errors = engine.state.errors.recent("open")
        finally:
            await engine.stop()
            engine.close()
    finally:
        await erp.stop()
    assert echoed and set(echoed) == {token}  # the ERP did quote it
    assert result.items_failed == 1
    # the state file: the error, the order's outbox row, the run, the events
    stored = stored_text(paths)
    assert token not in stored
    [(server_message,)] = rows(paths, "SELECT server_message FROM outbox")
    assert server_message == "invalid token ***"
    assert any(e["server_message"] == "invalid token ***" for e in errors)
    # what Bridge told the store about the failed order
    reports = store_sim.orders[order["id"]]["reports"]
    assert reports and all(token not in json.dumps(r) for r in reports)
    assert "***" in reports[-1]["message"]
    # `bridge status`, in this process (where the token is registered)...
    from bridge.cli import main

    for extra in ([], ["--json"]):
        code = main(
            [
                "--config",
                str(paths.config_file),
                "--data-dir",
                str(paths.data_dir),
                "status",
                *extra,
            ]
        )
        out = capsys.readouterr().out
        assert code == 0 and "invalid token ***" in out and token not in out
    # the alert e-mail's text
    subject, body = build_digest(errors, "perfil")
    assert token not in subject + body and "invalid token ***" in body
    # the diagnostics zip
    text = zip_text(
        write_zip(paths, tmp_path / "d.zip", None, secrets=SecretStore(use_keyring=False))
    )
    assert token not in text and "invalid token ***" in text


def test_status_masks_what_an_older_bridge_stored(tmp_path: Path) -> None:
    """A state file written before storage was masked: `bridge status` (its own process,
    which knows the token only from where secrets come from) masks it when it shows it."""
    token = unique("store-token-old")
    paths = write_profile(tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/api/", "C1")
    State(paths.db_file).close()
    db = sqlite3.connect(paths.db_file)
    with db:
        db.execute(
            "INSERT INTO errors (pipeline, subject, kind, code, message, "
            "server_message, first_at, last_at) VALUES ('orders', 'order:1', 'auth', "
            "'auth_rejected', ?, ?, ?, ?)",
            (f"the store rejected {token}", f"bad {token}", time.time(), time.time()),
        )
        db.execute(
            "INSERT INTO runs (pipeline, trigger, started_at, finished_at, status, "
            "message) VALUES ('orders', 'manual', ?, ?, 'failed', ?)",
            (time.time(), time.time(), f"failed: token {token}"),
        )
    db.close()
    env = dict(
        os.environ,
        BRIDGE_CONFIG=str(paths.config_file),
        BRIDGE_DATA_DIR=str(paths.data_dir),
        BRIDGE_SECRET_STORE_TOKEN=token,
    )
    for extra in ([], ["--json"]):
        run = subprocess.run(
            [*BRIDGE, "status", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert run.returncode == 0, run.stderr
        assert token not in run.stdout + run.stderr
        assert "the store rejected ***" in run.stdout and "failed: token ***" in run.stdout


async def test_doctor_masks_a_token_a_check_quotes(
    tmp_path: Path,
    sim_catalog: SimCatalog,
    erp_sim: DragonfishSimulator,
    capsys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.cli import cmd_doctor

    token = unique("store-token-doctor")
    store = StoreSimulator(token=token, products=list(sim_catalog.store_rows("LISTA1")))
    echoed = echo_token(store, "products", status=401)
    await store.start()
    try:
        paths = write_profile(tmp_path, store.base_url, erp_sim.base_url, erp_sim.cliente)
        monkeypatch.setenv("BRIDGE_SECRET_STORE_TOKEN", token)
        monkeypatch.setenv("BRIDGE_SECRET_ERP_TOKEN", erp_sim.token)
        assert await cmd_doctor(load_config(paths.config_file), paths) == 1
    finally:
        await store.stop()
    out = capsys.readouterr().out
    assert echoed == [token]
    assert "FAIL store token: " in out and "invalid token ***" in out
    assert token not in out


# -- session tokens obtained at run time --------------------------------------------------------------
async def test_a_nonsistemas_session_token_is_masked_from_its_login_on(tmp_path: Path) -> None:
    """The login's token is nowhere in the keyring: only registering it when the login
    answers keeps an error that quotes it out of the state file."""
    catalog = SimCatalog.generate(40, seed=3)
    erp = NonSistemasSimulator(catalog=catalog)
    echoed = echo_token(erp, "stock-precios")
    store = StoreSimulator(token=STORE_TOKEN, products=list(catalog.store_rows("LISTA1")))
    await erp.start()
    await store.start()
    try:
        data = {
            "store": {"url": store.base_url},
            "erp": {"kind": "nonsistemas", "url": erp.base_url, "username": erp.username},
        }
        paths = Paths(tmp_path / "p" / "config.toml", tmp_path / "p")
        save_config(parse_config(data), paths.config_file)
        secrets = SecretStore(use_keyring=False)
        secrets.set_session("store.token", STORE_TOKEN)
        secrets.set_session("erp.password", erp.password)
        engine = Engine(load_config(paths.config_file), paths, secrets, policy=FAST)
        try:
            await engine.open()
            [result] = await engine.sync_now("catalog")
        finally:
            await engine.stop()
            engine.close()
    finally:
        await store.stop()
        await erp.stop()
    [token] = set(echoed)
    assert token in erp.tokens  # the session token the login issued
    assert result.status == "failed"
    stored = stored_text(paths)
    assert token not in stored and "invalid token ***" in stored


async def test_a_salesforce_access_token_is_masked_once_issued() -> None:
    sim = SalesforceVSSimulator(seed=4)
    await sim.start()
    config = SalesforceVSConfig.model_validate(
        {
            "client_id": sim.client_id,
            "identifier": "VXM",
            "auth_flow": "client_credentials",
            "my_domain_url": sim.my_domain_url,
        }
    )
    client = SalesforceVSClient(config, {"erp.client_secret": sim.client_secret}, FAST)
    try:
        login = (await client.checks())[0]
        assert login.name == "ERP login" and login.ok, login
    finally:
        await client.aclose()
        await sim.stop()
    [token] = sim.tokens  # issued by the login, known to no keyring
    assert redact.redact(f"Session {token} expired") == "Session *** expired"


def test_session_tokens_are_kept_per_slot_within_a_bound() -> None:
    """A connector renewing its token every few minutes must not grow the redactor without
    end: only the last SESSION_KEEP tokens of a slot stay masked (older ones expired long
    ago); secrets registered without a slot stay for good."""
    secret = unique("keyring-secret")
    redact.register(secret)
    tokens = [unique(f"renewed-{i}") for i in range(redact.SESSION_KEEP + 3)]
    for token in tokens:
        redact.register(token, slot="test.session")
    old, recent = tokens[:3], tokens[3:]
    assert all(redact.redact(t) == redact.MASK for t in recent)
    assert all(redact.redact(t) == t for t in old)
    assert redact.redact(secret) == redact.MASK


# -- a token a server echoes in another form ----------------------------------------------------------
def encoded_forms(secret: str) -> dict[str, str]:
    """The forms in which servers were seen (or may be expected) to quote a value."""
    percent = urllib.parse.quote(secret, safe="")
    return {
        "URL-encoded": percent,
        "URL-encoded, lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), percent),
        "URL-encoded, / kept": urllib.parse.quote(secret),
        "form-encoded": urllib.parse.quote_plus(secret),
        "URL-encoded, then upper-cased": percent.upper(),
        "upper-cased, then URL-encoded": urllib.parse.quote(secret.upper(), safe=""),
        "upper-cased": secret.upper(),
        "lower-cased": secret.lower(),
        "HTML-escaped": html.escape(secret),
        "HTML-escaped, quotes kept": html.escape(secret, quote=False),
        "HTML-escaped, then upper-cased": html.escape(secret).upper(),
        "HTML numeric references": "".join(c if c.isalnum() else f"&#{ord(c)};" for c in secret),
        "HTML hexadecimal references": "".join(
            c if c.isalnum() else f"&#x{ord(c):X};" for c in secret
        ),
        "JSON-escaped": json.dumps(secret)[1:-1],
        "JSON-escaped, non-ASCII kept": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON-escaped, / escaped": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "JSON-escaped, upper-cased": json.dumps(secret)[1:-1].upper(),
        "every special character escaped with \\u": "".join(
            c
            if c.isascii() and c.isalnum()
            else json.dumps(c)[1:-1]
            if ord(c) > 0xFFFF
            else f"\\u{ord(c):04x}"
            for c in secret
        ),
    }


def test_every_usual_encoding_of_a_secret_is_masked() -> None:
    """A password with a space, quotes, a backslash, a slash, &, +, =, an ñ and a character
    beyond the BMP: each form the usual encoders give it is masked whole, in the middle of
    a text, and nothing around it."""
    password = unique('Contraseña con/"q"\\ &+=😀')
    token = unique("vxm_Ab+/cd=EF12gh34&ZZ")
    redact.register(password)
    redact.register(token, slot="test.encodings")
    for secret in (password, token):
        for name, form in encoded_forms(secret).items():
            assert (
                redact.redact(f"bad token ({form}) in request") == "bad token (***) in request"
            ), name
    # a text where one character lower-cases to two ("İ") is masked at the right places
    assert redact.redact(f"İ {token.upper()} İ") == "İ *** İ"
    # the same letters with other characters in between are another value, not a form
    other = token.replace("+", "-")
    assert redact.redact(other) == other
    assert redact.redact(token.replace("&", "&&")) == token.replace("&", "&&")


def test_an_html_title_is_unescaped_and_masked_before_it_is_cut() -> None:
    """The title of an HTML error page is kept as plain text: its character references
    decoded (so a token HTML-escaped in it is masked as itself), and a secret in it masked
    before it is cut to its 120 characters (no piece of one left past the cut)."""
    assert (
        html_title(
            "<html><head><title>Bad &quot;key&quot; &amp; &lt;id&gt; &#39;7&#39;"
            "&nbsp;</title></head></html>"
        )
        == "Bad \"key\" & <id> '7'"
    )
    assert (
        html_title("<h1>Acceso\n  denegado &mdash; c&oacute;digo 9</h1>")
        == "Acceso denegado — código 9"
    )
    token = unique("title-token")
    redact.register(token)
    title = html_title(f"<title>{'Upstream error, details follow. ' * 3}token={token}</title>")
    assert len(title) <= 120 and title.endswith("token=***")
    assert token[:6] not in title


def echo_encoded(sim: StoreSimulator) -> list[str]:
    """Make the store answer with the token its request carried, quoted in other forms than
    as it was sent: URL-encoded in the title of an HTML error page when orders are listed;
    upper-cased, HTML-escaped and JSON-escaped (a JSON document within its message) when
    stock and prices are pushed or products listed. Call before the simulator starts.
    Returns the tokens echoed."""
    echoed: list[str] = []

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = sim.route_name(request)
        if route not in ("orders", "products", "stock-prices"):
            return await handler(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        echoed.append(token)
        if route == "orders":
            quoted = urllib.parse.quote(token, safe="")
            return web.Response(
                status=502,
                content_type="text/html",
                text=(
                    f"<html><head><title>Rejected token {quoted}</title></head>"
                    f"<body><h1>upstream rejected {quoted}</h1></body></html>"
                ),
            )
        request_json = json.dumps({"token": token}).replace("/", "\\/")  # as PHP writes it
        return web.json_response(
            {"message": f"bad token {token.upper()} / {html.escape(token)} / in {request_json}"},
            status=400,
        )

    sim.app.middlewares.append(middleware)
    return echoed


async def test_a_token_the_store_echoes_encoded_is_masked_in_the_state_file_and_status(
    tmp_path: Path, sim_catalog: SimCatalog, erp_sim: DragonfishSimulator
) -> None:
    """The reviewer's probe (issue #11): every form was stored in the state file and shown
    by `bridge status` when only exact copies were masked."""
    token = unique("vxm_Ab+/cd=EF12gh34&ZZ")
    store = StoreSimulator(token=token, products=list(sim_catalog.store_rows("LISTA1")))
    echoed = echo_encoded(store)
    await store.start()
    try:
        paths = write_profile(tmp_path, store.base_url, erp_sim.base_url, erp_sim.cliente)
        secrets = SecretStore(use_keyring=False)
        secrets.set_session("store.token", token)
        secrets.set_session("erp.token", erp_sim.token)
        engine = Engine(load_config(paths.config_file), paths, secrets, policy=FAST)
        try:
            await engine.open()
            await engine.sync_now("orders")
            [catalog] = await engine.sync_now("catalog")
        finally:
            await engine.stop()
            engine.close()
    finally:
        await store.stop()
    assert echoed and set(echoed) == {token}  # the store did quote it
    assert catalog.status == "failed"
    forms = encoded_forms(token)
    stored = stored_text(paths)
    assert "(HTTP 502: Rejected token ***)" in stored
    assert 'bad token *** / *** / in {"token": "***"}' in stored
    for name, form in [("as sent", token), *forms.items()]:
        assert form not in stored, name
    # `bridge status` in a process of its own, with no secret to mask: what was stored
    env = dict(
        os.environ, BRIDGE_CONFIG=str(paths.config_file), BRIDGE_DATA_DIR=str(paths.data_dir)
    )
    run = await asyncio.to_thread(
        subprocess.run,
        [*BRIDGE, "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert "Rejected token ***" in run.stdout and "bad token *** / ***" in run.stdout
    for name, form in [("as sent", token), *forms.items()]:
        assert form not in run.stdout + run.stderr, name


def test_redaction_speed_with_many_secrets_is_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """What matching every form costs, with as many values as a profile registers at most: 10
    keyring secrets and two connector slots (Acqua's read and write logins) of SESSION_KEEP
    session tokens each. Printed next to the exact-copies-only matcher Bridge had before;
    the figures are reported, not asserted (this machine is shared)."""
    monkeypatch.setattr(redact, "_values", set())  # a redactor of its own, put back after
    monkeypatch.setattr(redact, "_sessions", {})
    monkeypatch.setattr(redact, "_pattern", None)
    symbols = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%&*+-./=?@_"
    keyring = [
        random_secrets.token_urlsafe(32),
        random_secrets.token_hex(16),
        random_secrets.token_hex(32),
        random_secrets.token_urlsafe(24),
        *("".join(random_secrets.choice(symbols) for _ in range(n)) for n in (8, 12, 16, 20)),
        "Contraseña de prueba 2024!",
        "vxm_Ab+/cd=EF12gh34&ZZ",
    ]
    for value in keyring:
        redact.register(value)
    renewals = redact.SESSION_KEEP + 4
    for slot in ("acqua.read", "acqua.write"):
        for _ in range(renewals):
            redact.register(random_secrets.token_urlsafe(30), slot=slot)
    started = time.perf_counter()
    redact.register("00D5e000000abcd!" + random_secrets.token_urlsafe(48), slot="acqua.write")
    compile_ms = (time.perf_counter() - started) * 1000
    # the bound holds: only the last SESSION_KEEP tokens of each slot are matched
    assert [len(d) for d in redact._sessions.values()] == [redact.SESSION_KEEP] * 2
    values = redact._values.union(*redact._sessions.values())
    assert len(values) == 10 + 2 * redact.SESSION_KEEP
    exact = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))

    def before(text: str) -> str:
        return redact._GENERIC.sub(
            lambda m: (m.group(1) or "") + redact.MASK, exact.sub(redact.MASK, text)
        )

    line = (
        "2026-05-09 15:02:33,120 WARNING bridge.engine [orders] order VM-00123: the store "
        "refused the request (HTTP 409: busy); retrying in 1 s"
    )
    error = (
        "the store answered an HTML error page instead of JSON (HTTP 502: Rejected token "
        f"{urllib.parse.quote(keyring[-1], safe='')}); a proxy or web server in the way "
        "may be failing"
    )
    log = "\n".join(line.replace("00123", f"{i:05}") for i in range(2_000_000 // len(line)))
    assert before(error) == error and redact.redact(error).count(redact.MASK) == 1
    assert redact.redact(log) == before(log) == log

    def best(fn: Callable[[str], str], text: str, repeat: int, number: int) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(number):
                fn(text)
            times.append((time.perf_counter() - started) / number)
        return min(times)

    print(
        f"\n  redaction with {len(values)} values registered (pattern built in {compile_ms:.1f} ms)"
    )
    print(f"  {'text':34} {'exact copies (before)':>22} {'every form (now)':>17}")
    for name, text, number, unit, scale in (
        (f"log line, {len(line)} chars", line, 2000, "µs", 1e6),
        (f"error message, {len(error)} chars", error, 1000, "µs", 1e6),
        (f"log file, {len(log) / 1e6:.1f} MB", log, 1, "ms", 1e3),
    ):
        old, new = best(before, text, 5, number), best(redact.redact, text, 5, number)
        print(f"  {name:34} {old * scale:19.1f} {unit} {new * scale:14.1f} {unit}")
