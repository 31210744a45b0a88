"""NonSistemas: the connector against its simulator (login per session, token renewal,
credentials, pagination, the `desde` filter, number formats, bad rows), and the engine with
it (no order pipeline, incremental catalog from the start of the last sync)."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Paths, load_config, parse_config, save_config
from bridge.engine import Engine
from bridge.errors import AuthError, ConfigError, FailureKind, TransientError
from bridge.model import CatalogItem, RowProblem
from bridge.registry import erp_entry
from bridge.secrets import SecretStore
from connectors.nonsistemas import client as nonsistemas_client
from connectors.nonsistemas.client import NonSistemasClient, format_desde, parse_number
from connectors.nonsistemas.config import NonSistemasConfig
from sim.catalog import SimCatalog
from sim.nonsistemas import NonSistemasSimulator
from sim.store import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN

N = 120
REASON = NonSistemasClient.capabilities.no_orders_reason


@pytest.fixture
def ns_catalog() -> SimCatalog:
    return SimCatalog.generate(N, seed=3)


@pytest.fixture
async def ns_sim(ns_catalog: SimCatalog):
    sim = NonSistemasSimulator(catalog=ns_catalog)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def clients(ns_sim: NonSistemasSimulator):
    made: list[NonSistemasClient] = []

    def make(password: str | None = None, **cfg: Any) -> NonSistemasClient:
        values: dict[str, Any] = {
            "url": ns_sim.base_url,
            "username": ns_sim.username,
            "page_size": 25,
            **cfg,
        }
        client = NonSistemasClient(
            NonSistemasConfig(**values), {"erp.password": password or ns_sim.password}, FAST
        )
        made.append(client)
        return client

    yield make
    for c in made:
        await c.aclose()


async def collect(
    client: NonSistemasClient, since: float | None = None
) -> list[CatalogItem | RowProblem]:
    out: list[CatalogItem | RowProblem] = []
    async for page in client.catalog(since=since):
        out.extend(page)
    return out


def by_sku(entries: list[CatalogItem | RowProblem]) -> dict[str, CatalogItem | RowProblem]:
    return {e.sku: e for e in entries}


def stock_queries(sim: NonSistemasSimulator) -> list[Any]:
    return [r for r in sim.requests if r.route == "stock-precios"]


# -- connector ---------------------------------------------------------------------------------
async def test_one_login_per_session_bearer_and_values(ns_sim, clients, ns_catalog):
    client = clients()
    entries = await collect(client)
    assert ns_sim.logins == 1 and ns_sim.count("login") == 1
    assert len(entries) == N and all(isinstance(e, CatalogItem) for e in entries)
    assert set(by_sku(entries)) == set(ns_catalog.skus())
    for e in entries:
        assert isinstance(e, CatalogItem)
        assert e.available == Decimal(str(round(ns_sim.available(e.sku), 2)))
        assert e.price == Decimal(f"{ns_sim.price(e.sku):.2f}")
    # a new session (the next sync) logs in again, and reuses that token for all its pages
    await collect(client)
    assert ns_sim.logins == 2
    assert all(r.status == 200 for r in ns_sim.requests)


async def test_expired_token_mid_run_one_new_login_for_all_pages(ns_sim, clients):
    client = clients(page_size=10, concurrency=4)
    entries: list[CatalogItem | RowProblem] = []
    async for page in client.catalog():
        entries.extend(page)
        if len(entries) == 10:
            ns_sim.expire_tokens()
    assert len(entries) == N and len(by_sku(entries)) == N
    # the pages in flight all got a 401; one login served them all
    assert ns_sim.logins == 2
    assert sum(1 for r in stock_queries(ns_sim) if r.status == 401) >= 1


async def test_one_401_is_renewed_and_retried(ns_sim, clients):
    client = clients()
    ns_sim.faults.script("GET", "stock-precios", 401)
    entries = await collect(client)
    assert len(entries) == N and ns_sim.logins == 2


async def test_token_refused_after_a_fresh_login_is_an_auth_error(ns_sim, clients):
    client = clients()
    ns_sim.faults.script("GET", "stock-precios", 401, 401)
    with pytest.raises(AuthError) as info:
        await collect(client)
    assert "just issued" in info.value.message and ns_sim.username in info.value.message
    assert ns_sim.logins == 2


async def test_token_about_to_expire_is_renewed_before_the_request(ns_sim, clients):
    client = clients(concurrency=1)
    later = [0.0]
    client.session.clock = lambda: time.monotonic() + later[0]
    n = 0
    async for page in client.catalog():
        n += len(page)
        later[0] += 24 * 3600  # as if its expires_in ran out
    assert n == N and ns_sim.logins == 1 + math.ceil(N / 25) - 1
    assert all(r.status == 200 for r in ns_sim.requests)


@pytest.mark.parametrize("wrong", ["password", "username"])
async def test_wrong_credentials_are_a_clear_auth_error(ns_sim, clients, wrong):
    client = (
        clients("not-the-password-77") if wrong == "password" else clients(username="someone-else")
    )
    with pytest.raises(AuthError) as info:
        await collect(client)
    err = info.value
    assert err.kind == FailureKind.AUTH and err.code == "login_rejected"
    assert "username" in err.message and "Password" in err.message
    assert "Usuario o contraseña incorrectos" in err.message
    assert "not-the-password-77" not in err.message and ns_sim.password not in err.message
    assert stock_queries(ns_sim) == []


async def test_expired_password_names_the_server_reason(ns_sim, clients):
    ns_sim.password_expired = True
    with pytest.raises(AuthError) as info:
        await collect(clients())
    assert "venció" in info.value.message and ns_sim.password not in info.value.message


async def test_wrong_login_path_is_a_config_error(ns_sim, clients):
    with pytest.raises(ConfigError) as info:
        await collect(clients(login_path="/api/ingresar"))
    assert "api/ingresar" in info.value.message


async def test_wrong_stock_path_is_a_config_error(ns_sim, clients):
    with pytest.raises(ConfigError) as info:
        await collect(clients(stock_path="api/stock"))
    assert "api/stock" in info.value.message


async def test_pagination_follows_total(ns_sim, clients):
    client = clients(page_size=25, concurrency=2)
    entries = await collect(client)
    assert len(entries) == N and len(by_sku(entries)) == N
    queries = ns_sim.queries
    assert sorted(int(q["page"]) for q in queries) == list(range(1, math.ceil(N / 25) + 1))
    assert all(q["limit"] == "25" for q in queries)
    assert all("desde" not in q for q in queries)


async def test_pagination_when_the_server_caps_limit(ns_sim, clients):
    ns_sim.max_limit = 20
    entries = await collect(clients(page_size=50))
    assert len(entries) == N and len(by_sku(entries)) == N
    assert len(ns_sim.queries) == math.ceil(N / 20)


async def test_desde_is_sent_and_honoured(ns_sim, clients, ns_catalog):
    changed = list(ns_catalog.skus())[5:8]
    for sku in changed:
        ns_sim.change(sku, stock=7, price=1234.5)
    since = time.time() - 60.4
    client = clients()
    entries = await collect(client, since=since)
    assert set(by_sku(entries)) == set(changed)
    for e in entries:
        assert isinstance(e, CatalogItem)
        assert e.available == 7 and e.price == Decimal("1234.5")
    [query] = ns_sim.queries
    desde = query["desde"]
    assert desde == format_desde(since)
    moment = datetime.fromisoformat(desde)
    # ISO-8601 with this computer's UTC offset, to the second, never later than asked
    assert moment.tzinfo is not None
    assert moment.utcoffset() == datetime.fromtimestamp(since).astimezone().utcoffset()
    assert moment.timestamp() == math.floor(since)


async def test_desde_in_utc_when_configured(ns_sim, clients, ns_catalog):
    sku = next(iter(ns_catalog.skus()))
    ns_sim.change(sku, stock=3)
    entries = await collect(clients(desde_timezone="utc"), since=time.time() - 30)
    assert [e.sku for e in entries] == [sku]
    assert ns_sim.queries[0]["desde"].endswith("Z")


async def test_a_server_ignoring_desde_is_logged(ns_sim, clients, monkeypatch):
    # a wrong parameter name: the server lists everything, which is still correct (the
    # engine pushes only differences) but worth a warning
    warnings: list[str] = []

    class Log:
        def warning(self, msg: str, *args: Any) -> None:
            warnings.append(msg % args)

    monkeypatch.setattr(nonsistemas_client, "log", Log())
    entries = await collect(clients(param_desde="fecha"), since=time.time() - 60)
    assert len(entries) == N
    [warning] = warnings
    assert f"listed {N} items modified before" in warning and "'fecha' filter" in warning
    await collect(clients(), since=time.time() - 60)
    assert len(warnings) == 1


async def test_a_failing_page_stops_the_pass_and_leaves_no_task_behind(ns_sim, clients):
    client = clients(page_size=10, concurrency=4)
    seen = 0
    with pytest.raises(TransientError, match="HTTP 500"):
        async for page in client.catalog():
            seen += len(page)
            if seen == 10:  # after page 1, the server starts failing
                ns_sim.faults.script("GET", "stock-precios", *[500] * 40)
    assert seen < N
    assert not [t for t in asyncio.all_tasks() if "fetch" in repr(t.get_coro())]


def test_format_desde():
    assert format_desde(0.9, "iso", "utc") == "1970-01-01T00:00:00Z"
    assert format_desde(0, "iso", "-03:00") == "1969-12-31T21:00:00-03:00"
    assert format_desde(3600, "%Y-%m-%d %H:%M:%S", "+01:00") == "1970-01-01 02:00:00"
    local = format_desde(1_700_000_000.7)
    assert datetime.fromisoformat(local).timestamp() == 1_700_000_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, "12"),
        ("12", "12"),
        (" 12 ", "12"),
        (Decimal("3.50"), "3.50"),
        ("-4", "-4"),
        ("1234,50", "1234.50"),
        ("1234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1.234.567", "1234567"),
        ("1,234,567.5", "1234567.5"),
        ("1,5", "1.5"),
        ("NaN", None),
        (float("nan"), None),
        (float("inf"), None),
        ("abc", None),
        ("12a", None),
        ("1,2,3", None),
        ("", None),
        (None, None),
        (True, None),
        ([1], None),
    ],
)
def test_parse_number(raw, expected):
    result = parse_number(raw)
    assert result == (None if expected is None else Decimal(expected))


async def test_decimal_comma_and_stock_as_text(ns_sim, clients, ns_catalog):
    ns_sim.decimal_comma = True
    ns_sim.stock_as_text = True
    sample = ns_sim.item(0)
    assert isinstance(sample["precio"], str) and "," in sample["precio"]
    assert isinstance(sample["stock"], str)
    entries = await collect(clients())
    assert all(isinstance(e, CatalogItem) for e in entries)
    for e in entries:
        assert isinstance(e, CatalogItem)
        assert e.price == Decimal(f"{ns_sim.price(e.sku):.2f}")
        assert e.available == Decimal(str(round(ns_sim.available(e.sku), 2)))


async def test_bad_rows_become_row_problems_naming_the_sku(ns_sim, clients, ns_catalog):
    skus = list(ns_catalog.skus())
    ns_sim.corrupt(skus[0], precio="abc")
    ns_sim.corrupt(skus[1], stock="NaN")
    ns_sim.corrupt(skus[2], precio=-5)
    ns_sim.corrupt(skus[3], stock=None)
    ns_sim.corrupt(skus[4], precio="1.234,50", stock="12,5")
    ns_sim.corrupt(skus[5], precio=None)
    ns_sim.corrupt(skus[6], sku="")
    entries = await collect(clients(), since=time.time() - 60)
    got = by_sku(entries)
    assert len(entries) == 7
    assert isinstance(got[skus[0]], RowProblem) and "'abc'" in got[skus[0]].message
    assert isinstance(got[skus[1]], RowProblem) and "stock" in got[skus[1]].message
    assert isinstance(got[skus[2]], RowProblem) and "negative price" in got[skus[2]].message
    assert isinstance(got[skus[3]], RowProblem) and "not a number" in got[skus[3]].message
    assert got[skus[4]] == CatalogItem(skus[4], Decimal("12.5"), Decimal("1234.50"))
    # no price: stock only (the engine leaves the store's price as it is)
    item5 = got[skus[5]]
    assert isinstance(item5, CatalogItem) and item5.price is None
    assert isinstance(got["?"], RowProblem) and "'sku'" in got["?"].message


async def test_no_orders_no_lookup(clients):
    client = clients()
    caps = client.capabilities
    assert not caps.orders and caps.incremental_catalog and not caps.sku_lookup
    assert "one-way" in caps.no_orders_reason
    for call in (
        client.find_customer(None),
        client.create_customer(None),
        client.find_order(None),
        client.create_order(None, "", None),
    ):
        with pytest.raises(ConfigError, match="NonSistemas takes no orders"):
            await call
    assert await client.lookup_sku("A00001") is None


async def test_checks(ns_sim, clients):
    checks = await clients().checks()
    assert [(c.name, c.ok) for c in checks] == [
        ("ERP reachable", True),
        ("ERP login", True),
        ("ERP stock query", True),
    ]
    assert f"{N} items" in checks[2].detail
    bad = await clients("wrong-password-1").checks()
    assert [(c.name, c.ok) for c in bad] == [("ERP reachable", True), ("ERP login", False)]
    down = NonSistemasClient(
        NonSistemasConfig(url="http://127.0.0.1:9/", username="x"), {"erp.password": "p"}, FAST
    )
    try:
        [unreachable] = await down.checks()
    finally:
        await down.aclose()
    assert not unreachable.ok and "unreachable" in unreachable.detail


def test_config_and_registry():
    cfg = NonSistemasConfig(url=" https://erp.example.com/nonsistemas ", username=" ana ")
    assert cfg.url == "https://erp.example.com/nonsistemas/" and cfg.username == "ana"
    assert (cfg.login_path, cfg.stock_path, cfg.page_size) == (
        "api/login",
        "api/stock-precios",
        500,
    )
    for bad in (
        {"url": "erp.example.com"},
        {"username": ""},
        {"desde_timezone": "Mars"},
        {"desde_format": "yyyy-mm-dd"},
    ):
        with pytest.raises(ValueError):
            NonSistemasConfig(**{"url": "http://x/", "username": "u", **bad})
    entry = erp_entry("nonsistemas")
    assert entry.secrets == ("erp.password",) and entry.config_model is NonSistemasConfig
    assert [f.name for f in entry.fields] == ["url", "username", "erp.password"]
    assert entry.fields[2].kind == "secret"
    data = {
        "store": {"url": "http://store/"},
        "erp": {"kind": "nonsistemas", "url": "http://erp", "username": "u"},
    }
    assert parse_config(data).erp.url == "http://erp/"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"erp\.password"):
        parse_config({**data, "erp": {**data["erp"], "password": "x"}})


# -- engine ------------------------------------------------------------------------------------
OVERLAP = 120.0


@pytest.fixture
async def ns_store(ns_catalog: SimCatalog):
    sim = StoreSimulator(token=STORE_TOKEN, products=list(ns_catalog.store_rows("LISTA1")), seed=5)
    await sim.start()
    yield sim
    await sim.stop()


def ns_profile(tmp_path: Path, store_url: str, erp_url: str, username: str, **sync: Any) -> Paths:
    data = {
        "store": {"url": store_url},
        "erp": {"kind": "nonsistemas", "url": erp_url, "username": username, "page_size": 50},
        "sync": {
            "orders_interval_s": 5,
            "catalog_interval_s": 300,
            "retry_base_s": 1,
            "full_catalog_every_h": 0,
            "incremental_overlap_s": OVERLAP,
            **sync,
        },
    }
    paths = Paths(config_file=tmp_path / "profile" / "config.toml", data_dir=tmp_path / "profile")
    save_config(parse_config(data), paths.config_file)
    return paths


async def open_ns_engine(
    paths: Paths, ns_sim: NonSistemasSimulator, password: str | None = None
) -> Engine:
    """An engine on a NonSistemas profile, its secrets in the session (no keyring)."""
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", STORE_TOKEN)
    secrets.set_session("erp.password", password or ns_sim.password)
    eng = Engine(load_config(paths.config_file), paths, secrets, policy=FAST)
    await eng.open()
    return eng


@pytest.fixture
async def ns_engine(tmp_path, ns_sim, ns_store):
    engines: list[Engine] = []

    async def make(password: str | None = None) -> Engine:
        paths = ns_profile(tmp_path, ns_store.base_url, ns_sim.base_url, ns_sim.username)
        eng = await open_ns_engine(paths, ns_sim, password)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        await eng.stop()
        eng.close()


def pushed(store: StoreSimulator) -> list[dict[str, Any]]:
    return [item for batch in store.patches for item in batch]


def desde_of(query: dict[str, str]) -> float:
    return datetime.fromisoformat(query["desde"]).timestamp()


async def test_engine_no_orders_and_incremental_catalog(ns_engine, ns_sim, ns_store, ns_catalog):
    engine = await ns_engine()
    results = await engine.sync_now("all")
    # the order pipeline is off: only the catalog ran, the store's orders were not asked
    assert [r.pipeline for r in results] == ["catalog"]
    [first] = results
    assert first.status == "ok", first.message
    assert ns_store.count("orders") == 0 and ns_store.count("erp-sync") == 0
    status = engine.status().live
    assert status is not None and status.orders_enabled is False
    assert status.orders_disabled_reason == REASON
    assert status.incremental_catalog is True
    # a first sync lists everything (no desde) and the store gets the ERP's figures
    assert ns_sim.queries and all("desde" not in q for q in ns_sim.queries)
    assert first.items_seen == N
    for sku in ns_catalog.skus():
        assert ns_store.products[sku]["stock"] == max(0, math.floor(ns_sim.available(sku)))
    started = float(engine.state.kv.get("catalog_since"))
    assert started <= time.time()

    # three items change in the ERP: the next run asks from the first run's start minus the
    # overlap, and pushes only those
    changed = [s for s in ns_catalog.skus() if "!" in s][10:13]
    for n, sku in enumerate(changed):
        ns_sim.change(sku, stock=40 + n, price=999.25 + n)
    ns_store.patches.clear()
    ns_sim.queries.clear()
    [second] = await engine.sync_now("catalog")
    assert second.status == "ok", second.message
    assert ns_sim.queries and all("desde" in q for q in ns_sim.queries)
    assert abs(desde_of(ns_sim.queries[0]) - (started - OVERLAP)) <= 1.0
    assert desde_of(ns_sim.queries[0]) <= started - OVERLAP
    assert second.items_seen == 3
    assert {i["sku"] for i in pushed(ns_store)} == set(changed)
    for n, sku in enumerate(changed):
        assert ns_store.products[sku] == {"stock": 40 + n, "price": f"{999.25 + n:.2f}"}
    assert ns_sim.logins == 2  # one login per sync session

    # a full resync on demand asks without desde and pushes everything
    ns_store.patches.clear()
    ns_sim.queries.clear()
    [full] = await engine.sync_now("catalog", full=True)
    assert full.status == "ok" and full.details["full"]
    assert ns_sim.queries and all("desde" not in q for q in ns_sim.queries)
    assert len(pushed(ns_store)) == N
    # and the next incremental run starts from the full run's start
    full_start = float(engine.state.kv.get("catalog_since"))
    assert full_start > started
    ns_sim.queries.clear()
    [after] = await engine.sync_now("catalog")
    # the three changes fall within the overlap: read again, not pushed again
    assert after.items_seen == 3 and after.items_ok == 0
    assert abs(desde_of(ns_sim.queries[0]) - (full_start - OVERLAP)) <= 1.0


async def test_engine_orders_pipeline_is_skipped_with_the_reason(ns_engine, ns_store):
    engine = await ns_engine()
    ns_store.add_orders(2)
    [result] = await engine.sync_now("orders")
    assert result.status == "skipped" and result.message == REASON
    assert ns_store.count("orders") == 0
    # scheduled: a catalog job only, whose first run begins at once
    await engine.start()
    try:
        assert engine._scheduler is not None
        assert engine._scheduler.get_job("orders") is None
        assert engine._scheduler.get_job("catalog") is not None
        for _ in range(200):
            last = engine.state.runs.last("catalog")
            if last is not None and last["finished_at"] and last["trigger"] == "schedule":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the scheduled catalog run did not finish")
    finally:
        await engine.stop()
    assert ns_store.count("orders") == 0


async def test_engine_wrong_password_fails_the_run_clearly(ns_engine, ns_sim, ns_store):
    engine = await ns_engine("bad-password-3141")
    [result] = await engine.sync_now("catalog")
    assert result.status == "failed"
    [err] = engine.state.errors.recent()
    assert err["kind"] == "auth" and ns_sim.username in err["message"]
    assert "bad-password-3141" not in err["message"]
    assert engine.status().connection("erp").ok is False
    assert engine.state.kv.get("catalog_since") is None
    assert ns_store.patches == []


async def test_engine_out_of_range_rows_are_errors_of_their_own(
    ns_engine, ns_sim, ns_store, ns_catalog
):
    """Poisoned rows among good ones (before: a stock of 1e19 overflowed SQLite, a price of
    10**400 failed the rounding to cents: the whole run stopped, nothing pushed)."""
    skus = list(ns_catalog.skus())
    ns_sim.corrupt(skus[1], stock=1e19)
    ns_sim.corrupt(skus[2], precio=10**400)
    ns_sim.corrupt(skus[3], precio=1e30)
    ns_sim.corrupt(skus[4], stock="1e400")
    ns_sim.corrupt(skus[5], stock="-99999999999")
    bad = skus[1:6]
    for product in ns_store.products.values():
        product["stock"] = -1  # so that every pushed row shows
    engine = await ns_engine()
    [result] = await engine.sync_now("catalog")
    assert result.status == "partial", result.message
    assert result.items_failed == len(bad)
    errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
    said = {
        skus[1]: "stock ('stock') is 1E+19, beyond the ±1,000,000,000 units Bridge takes",
        skus[2]: "price ('precio') is 1000000000000",  # 401 digits, cut in the message
        skus[3]: "price ('precio') is 1E+30, more than the 1,000,000,000,000 Bridge takes",
        skus[4]: "stock ('stock') is '1e400', not a number",
        skus[5]: "stock ('stock') is -99999999999, beyond",
    }
    for sku, text in said.items():
        assert text in errors[f"sku:{sku}"], errors[f"sku:{sku}"]
    assert len(errors[f"sku:{skus[2]}"]) < 200
    for sku in skus:
        expected = -1 if sku in bad else max(0, math.floor(ns_sim.available(sku)))
        assert ns_store.products[sku]["stock"] == expected, sku


@pytest.mark.parametrize("fault", ["claimed_total", "ignore_page", "repeat_page"])
async def test_engine_paging_faults_end_the_run_with_bounded_requests(
    ns_engine, ns_sim, ns_store, caplog, fault
):
    """50 rows a page: 3 pages. A huge claimed `total` ends with the short last page (a
    warning says so); a repeated page stops the run with a clear error, nothing pushed
    (bridge.paging)."""
    if fault == "claimed_total":
        ns_sim.paging.claimed_total = 10**9
    elif fault == "ignore_page":
        ns_sim.paging.ignore_page = True
        ns_sim.paging.claimed_total = 10**9  # and never runs out of pages
    else:
        ns_sim.paging.repeat_page = 2
    # a runaway client fails here instead of hanging
    ns_sim.faults.script("GET", "stock-precios", *([None] * 30), *([400] * 100_000))
    for product in ns_store.products.values():
        product["stock"] = -1  # so that anything pushed would show
    engine = await ns_engine()
    events: list[Any] = []
    engine.events.subscribe(events.append)
    with caplog.at_level("WARNING", logger="bridge.paging"):
        [result] = await engine.sync_now("catalog")
    print(f"{fault}: {len(stock_queries(ns_sim))} stock requests, {len(events)} events")
    assert len(stock_queries(ns_sim)) <= 3 + 4  # the 3 pages, and 4 asked ahead
    if fault == "claimed_total":
        assert result.status == "ok", result.message
        assert result.items_seen == N
        assert any("claimed 1,000,000,000 rows" in r.getMessage() for r in caplog.records)
        return
    assert result.status == "failed", result.message
    assert (
        "NonSistemas answered page 2 of the stock list (api/stock-precios) with the same "
        "rows as page 1: it ignores the page parameter or repeats pages" in result.message
    )
    assert ns_store.patches == [] and result.items_ok == 0
    assert len(events) <= 5, [e.code for e in events]
