"""Secrets never kept or shown, whatever path they came by: a token a server echoes in its
error text is masked in the state file (errors, outbox, runs), in what Bridge tells the
store, in `bridge status`, in the alert e-mail and in the diagnostics zip; session tokens
that connectors obtain at run time (a login's answer) are masked from the moment they are
obtained; `bridge status` masks what an older Bridge stored; `bridge doctor` masks what a
check quotes. Real simulators on loopback sockets, real SQLite files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
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
from bridge.secrets import SecretStore
from bridge.state import State
from connectors.dragonfish.simcatalog import SimCatalog
from connectors.dragonfish.simulator import DragonfishSimulator
from connectors.nonsistemas.simulator import NonSistemasSimulator
from connectors.salesforce_vs.client import SalesforceVSClient
from connectors.salesforce_vs.config import SalesforceVSConfig
from connectors.salesforce_vs.simulator import SalesforceVSSimulator
from connectors.simkit import SimServer
from connectors.store.simulator import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN, WRITE_ROUTE, make_engine, write_profile

BRIDGE = [sys.executable, "-m", "bridge"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unique(tag: str) -> str:
    """A token nobody registered with the redactor yet (it is process-wide), shaped like
    neither a JWT nor a Bearer header (those are masked even unregistered)."""
    value = f"{tag}-{os.getpid()}-{time.monotonic_ns()}"
    assert redact.redact(value) == value
    return value


def echo_token(sim: SimServer, route: str, *, status: int = 400,
               key: str = "message") -> list[str]:
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
    parts += rows(paths, "SELECT COALESCE(last_error, ''), COALESCE(server_message, '') "
                         "FROM outbox")
    parts += rows(paths, "SELECT COALESCE(message, '') FROM runs")
    parts += rows(paths, "SELECT message, COALESCE(data, '') FROM events")
    return "\n".join(" | ".join(str(v) for v in r) for r in parts)


def zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return "\n".join(zf.read(n).decode("utf-8") for n in zf.namelist())


# -- a keyring token echoed by the ERP -------------------------------------------------------------
async def test_a_token_the_erp_echoes_is_masked_wherever_it_goes(
        tmp_path: Path, sim_catalog: SimCatalog, store_sim: StoreSimulator, capsys) -> None:
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
            errors = engine.state.errors("open")
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
        code = main(["--config", str(paths.config_file), "--data-dir", str(paths.data_dir),
                     "status", *extra])
        out = capsys.readouterr().out
        assert code == 0 and "invalid token ***" in out and token not in out
    # the alert e-mail's text
    subject, body = build_digest(errors, "perfil")
    assert token not in subject + body and "invalid token ***" in body
    # the diagnostics zip
    text = zip_text(write_zip(paths, tmp_path / "d.zip", None,
                              secrets=SecretStore(use_keyring=False)))
    assert token not in text and "invalid token ***" in text


def test_status_masks_what_an_older_bridge_stored(tmp_path: Path) -> None:
    """A state file written before storage was masked: `bridge status` (its own process,
    which knows the token only from where secrets come from) masks it when it shows it."""
    token = unique("store-token-old")
    paths = write_profile(tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/api/", "C1")
    State(paths.db_file).close()
    db = sqlite3.connect(paths.db_file)
    with db:
        db.execute("INSERT INTO errors (pipeline, subject, kind, code, message, "
                   "server_message, first_at, last_at) VALUES ('orders', 'order:1', 'auth', "
                   "'auth_rejected', ?, ?, ?, ?)",
                   (f"the store rejected {token}", f"bad {token}", time.time(), time.time()))
        db.execute("INSERT INTO runs (pipeline, trigger, started_at, finished_at, status, "
                   "message) VALUES ('orders', 'manual', ?, ?, 'failed', ?)",
                   (time.time(), time.time(), f"failed: token {token}"))
    db.close()
    env = dict(os.environ, BRIDGE_CONFIG=str(paths.config_file),
               BRIDGE_DATA_DIR=str(paths.data_dir), BRIDGE_SECRET_STORE_TOKEN=token)
    for extra in ([], ["--json"]):
        run = subprocess.run([*BRIDGE, "status", *extra], env=env, capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        assert token not in run.stdout + run.stderr
        assert "the store rejected ***" in run.stdout and "failed: token ***" in run.stdout


async def test_doctor_masks_a_token_a_check_quotes(tmp_path: Path, sim_catalog: SimCatalog,
                                                   erp_sim: DragonfishSimulator, capsys,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
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
        data = {"store": {"url": store.base_url},
                "erp": {"kind": "nonsistemas", "url": erp.base_url, "username": erp.username}}
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
    config = SalesforceVSConfig.model_validate({
        "client_id": sim.client_id, "identifier": "VXM", "auth_flow": "client_credentials",
        "my_domain_url": sim.my_domain_url})
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
