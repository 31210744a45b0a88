"""Salesforce Virtual Seller: the connector against its simulator (both login flows, session
renewal, catalog pages and filters, orders), then the engine and the CLI against both
simulators.

`client_for(sim)` without `flow` builds a config as written before client credentials
existed (a username, no `auth_flow`): the username-password flow, which such a config must
keep. `flow="client_credentials"` is a new install's config."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config import Config, Paths, load_config, parse_config, save_config
from bridge.engine import Engine, required_secrets
from bridge.errors import (
    AuthError,
    ConfigError,
    DataError,
    DuplicateError,
    FailureKind,
    RateLimitedError,
)
from bridge.fiscal import make_cuit, validate_buyer_fiscal
from bridge.model import Address, Buyer, CatalogItem, OrderItem, StoreOrder, ValidBuyer
from bridge.registry import erp_entry
from bridge.secrets import SecretStore
from bridge.state import OrderState
from connectors.salesforce_vs import config as sf_config
from connectors.salesforce_vs.client import SalesforceVSClient
from connectors.salesforce_vs.config import UI_FIELDS, SalesforceVSConfig
from sim.salesforce_vs import SalesforceVSSimulator, TokenRequest
from sim.store import StoreSimulator
from tests.conftest import FAST, STORE_TOKEN

IDENTIFIER = "PAGINAWEB"
COMPANY_CUIT = make_cuit("30", "71234567")
CC = "client_credentials"
CC_FIELDS = ("grant_type", "client_id", "client_secret")
PASSWORD_FIELDS = ("grant_type", "client_id", "client_secret", "username", "password")


@pytest.fixture(autouse=True)
def _no_env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BRIDGE_SECRET_ERP_PASSWORD", "BRIDGE_SECRET_ERP_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def sf():
    # the org asks for a security token; the instance lives under a path of its own, so
    # that a call sent to the login URL instead of instance_url fails
    sim = SalesforceVSSimulator(security_token="TKN7x9", instance_prefix="org42", seed=4)
    await sim.start()
    yield sim
    await sim.stop()


def secrets_for(sim: SalesforceVSSimulator, **over: str) -> dict[str, str]:
    return {
        "erp.password": sim.password + sim.security_token,
        "erp.client_secret": sim.client_secret,
        **over,
    }


def sf_erp(config: Config) -> SalesforceVSConfig:
    assert isinstance(config.erp, SalesforceVSConfig)
    return config.erp


def cc_secrets(sim: SalesforceVSSimulator) -> dict[str, str]:
    """All that client credentials need: no user password."""
    return {"erp.client_secret": sim.client_secret}


def config_for(sim: SalesforceVSSimulator, flow: str | None = None, **cfg: object) -> dict:
    """An `erp` section: flow None is a config written before client credentials existed
    (username, login_url, no auth_flow); CC a new install's (auth_flow, my_domain_url, no
    username); "password" names the username-password flow explicitly."""
    base: dict[str, object] = {"client_id": sim.client_id, "identifier": IDENTIFIER}
    if flow == CC:
        base.update(auth_flow=CC, my_domain_url=sim.my_domain_url)
    else:
        base.update(username=sim.username, login_url=sim.login_url)
        if flow is not None:
            base["auth_flow"] = flow
    return {**base, **cfg}


def client_for(
    sim: SalesforceVSSimulator,
    secrets: dict[str, str] | None = None,
    *,
    flow: str | None = None,
    **cfg: object,
) -> SalesforceVSClient:
    config = SalesforceVSConfig.model_validate(config_for(sim, flow, **cfg))
    if secrets is None:
        secrets = cc_secrets(sim) if flow == CC else secrets_for(sim)
    return SalesforceVSClient(config, secrets, FAST)


@pytest.fixture
async def client(sf):
    c = client_for(sf)
    yield c
    await c.aclose()


async def all_items(c: SalesforceVSClient) -> list:
    out = []
    async for page in c.catalog():
        out.extend(page)
    return out


def stock_requests(sim: SalesforceVSSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.route == "stock"]


def make_order(
    number: str,
    skus: list[str],
    *,
    tax_id: str = COMPANY_CUIT,
    condition: str = "responsable_inscripto",
) -> tuple[StoreOrder, ValidBuyer]:
    buyer = Buyer(
        id="b1",
        business_name="Distribuidora Ñandú SRL",
        tax_id=tax_id,
        tax_condition=condition,
        email="compras@nandu.com.ar",
        phone="11 4555-0101",
        address=Address(
            "Av. Corrientes", "1234", "4° A", "CABA", "Ciudad Autónoma de Buenos Aires", "C1043AAZ"
        ),
    )
    items = tuple(
        OrderItem(
            sku=s,
            name=s,
            quantity=2 + n,
            unit_price=Decimal("1500.50"),
            discount_pct=Decimal("10.00"),
            subtotal=Decimal(0),
        )
        for n, s in enumerate(skus)
    )
    order = StoreOrder(
        id=f"ord_{number}",
        number=number,
        confirmed_at="",
        buyer=buyer,
        items=items,
        payment_terms="30 días",
        notes="Entregar por la mañana",
    )
    doc, cond = validate_buyer_fiscal(buyer.tax_id, buyer.tax_condition)
    return order, ValidBuyer(buyer, doc, cond)


# -- config --------------------------------------------------------------------------------
def test_config_companies_from_text_or_list_and_vendor_fields():
    base = {"username": "u", "client_id": "c", "identifier": "PAGINAWEB"}
    for given in (
        "EMPRESA1, EMPRESA2",
        ["EMPRESA1", " EMPRESA2 "],
        "['EMPRESA1', 'EMPRESA2']",
        "EMPRESA1;EMPRESA2,,EMPRESA1",
    ):
        cfg = SalesforceVSConfig.model_validate({**base, "companies": given})
        assert cfg.companies == ["EMPRESA1", "EMPRESA2"], given
    cfg = SalesforceVSConfig.model_validate({**base, "companies": "", "warehouse": " "})
    assert cfg.companies == [] and cfg.warehouse == ""
    assert cfg.login_url == "https://login.salesforce.com/"
    # a partial mapping keeps the other defaults
    cfg = SalesforceVSConfig.model_validate({**base, "tax_conditions": {"exento": "EX"}})
    assert cfg.tax_conditions["exento"] == "EX" and cfg.tax_conditions["monotributo"] == "6"
    # the two fields that choose the login flow, then the vendor page's, in its order
    assert [f.label for f in UI_FIELDS] == [
        "Authentication",
        "My Domain URL",
        "Username",
        "Password",
        "Client ID",
        "Client Secret",
        "Identifier",
        "Warehouse",
        "Companies",
    ]
    fields = {f.name: f for f in UI_FIELDS}
    assert fields["auth_flow"].kind == "choice"
    assert [v for v, _ in fields["auth_flow"].choices] == [CC, "password"]  # new: CC
    assert fields["erp.password"].kind == "secret" and fields["erp.client_secret"].kind == "secret"
    # the user and the password are only for the username-password flow
    assert not fields["username"].required and not fields["erp.password"].required
    assert fields["client_id"].required and fields["erp.client_secret"].required
    for name in fields:
        assert name.startswith("erp.") or name in SalesforceVSConfig.model_fields, name
    entry = erp_entry("salesforce_vs")
    # every secret the connector may use; which ones a config needs: secrets_for
    assert entry.secrets == ("erp.password", "erp.client_secret")
    assert entry.capabilities.sku_lookup and not entry.capabilities.customers
    # secrets never go in the config file
    with pytest.raises(ConfigError, match="secrets do not go in the config file"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "salesforce_vs", **base, "password": "x"},
            }
        )
    with pytest.raises(ConfigError, match=r"erp\.identifier"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "salesforce_vs", "username": "u", "client_id": "c"},
            }
        )


def test_a_config_without_auth_flow_keeps_the_flow_it_had():
    base = {"client_id": "c", "identifier": "PAGINAWEB"}
    # written before client credentials existed: a username, no flow -> username-password
    old = SalesforceVSConfig.model_validate({**base, "username": "u"})
    assert old.auth_flow == "password" and old.login_url == "https://login.salesforce.com/"
    assert old.my_domain_url == ""
    # a new install names the My Domain: client credentials, by default, with or without
    # a username; the settings form sends an empty flow when the field was left empty
    for extra in ({}, {"username": "u"}, {"username": "u", "auth_flow": ""}):
        cfg = SalesforceVSConfig.model_validate(
            {**base, "my_domain_url": "https://acme.my.salesforce.com/", **extra}
        )
        assert cfg.auth_flow == CC, extra
    # the flow as a person may type it
    for typed, flow in (
        ("Client Credentials", CC),
        ("client-credentials", CC),
        (" PASSWORD ", "password"),
        ("username-password", "password"),
    ):
        cfg = SalesforceVSConfig.model_validate(
            {**base, "username": "u", "my_domain_url": "acme.my.salesforce.com", "auth_flow": typed}
        )
        assert cfg.auth_flow == flow, typed
    with pytest.raises(ConfigError, match=r"erp\.auth_flow: 'oauth' is not a login flow"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "salesforce_vs", **base, "auth_flow": "oauth"},
            }
        )
    # nothing to log in with: client credentials, which needs the My Domain
    with pytest.raises(
        ConfigError,
        match=r"erp\.my_domain_url: required for the client "
        r"credentials flow: your org's My Domain URL, e\.g\. https://acme",
    ):
        parse_config({"store": {"url": "http://x/"}, "erp": {"kind": "salesforce_vs", **base}})
    # the password flow named without a user
    with pytest.raises(ConfigError, match=r"erp\.username: required for the password flow"):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {"kind": "salesforce_vs", **base, "auth_flow": "password"},
            }
        )


OLD_CONFIG_FILE = """\
[store]
url = "https://tienda.example/"

[erp]
kind = "salesforce_vs"
username = "integracion@mayorista.com.ar"
client_id = "3MVG9SIMULATORxCONSUMERxKEY"
identifier = "PAGINAWEB"
login_url = "https://test.salesforce.com/"
"""


def test_an_old_config_file_keeps_the_password_flow_and_names_it_once_saved(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(OLD_CONFIG_FILE, encoding="utf-8")
    config = load_config(path)
    erp = sf_erp(config)
    assert erp.auth_flow == "password" and erp.login_url == "https://test.salesforce.com/"
    # the engine asks for the user's password, as it always did
    assert required_secrets(config) == ["store.token", "erp.password", "erp.client_secret"]
    assert sf_config.secrets_for(config.erp) == ("erp.password", "erp.client_secret")
    # saved by Bridge (the settings form does), the file names the flow from then on
    save_config(config, path)
    text = path.read_text(encoding="utf-8")
    assert 'auth_flow = "password"' in text and 'my_domain_url = ""' in text
    assert load_config(path).erp == config.erp


def form_text(values: dict) -> dict[str, str]:
    """What the settings form sends back: every non-secret field of UI_FIELDS as text (a
    list shown joined by commas), empty when left empty; a choice's value, the first one
    when the config had none."""
    out = {}
    for f in UI_FIELDS:
        if f.kind == "secret":
            continue
        value = values.get(f.name, "")
        if f.kind == "choice":
            out[f.name] = value if value in dict(f.choices) else f.choices[0][0]
        else:
            out[f.name] = ", ".join(value) if isinstance(value, list) else str(value or "")
    return out


def test_the_settings_form_gives_the_flow_it_shows():
    store = {"url": "https://tienda.example/"}
    # a new install: the form offers client credentials first
    new = form_text(
        {"my_domain_url": "acme.my.salesforce.com", "client_id": "c", "identifier": "PAGINAWEB"}
    )
    assert new["auth_flow"] == CC
    config = parse_config({"store": store, "erp": {"kind": "salesforce_vs", **new}})
    assert sf_erp(config).auth_flow == CC and sf_config.secrets_for(config.erp) == (
        "erp.client_secret",
    )
    # ... and without a My Domain URL it says so
    with pytest.raises(ConfigError, match=r"^erp\.my_domain_url: required"):
        parse_config({"store": store, "erp": {"kind": "salesforce_vs", **new, "my_domain_url": ""}})
    # an old install opened in the form: the form shows its flow, and saves it unchanged
    old = parse_config(
        {
            "store": store,
            "erp": {"kind": "salesforce_vs", "username": "u", "client_id": "c", "identifier": "P"},
        }
    )
    shown = form_text(old.to_toml()["erp"])
    assert shown["auth_flow"] == "password" and shown["my_domain_url"] == ""
    again = parse_config({"store": store, "erp": {**old.to_toml()["erp"], **shown}})
    assert again.erp == old.erp


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com/"),
        ("acme.my.salesforce.com", "https://acme.my.salesforce.com/"),
        (
            " https://ACME.my.salesforce.com/lightning/setup/Home ",
            "https://acme.my.salesforce.com/",
        ),
        (
            "https://acme--uat.sandbox.my.salesforce.com/",
            "https://acme--uat.sandbox.my.salesforce.com/",
        ),
        ("https://acme.my.salesforce.com:8443/x", "https://acme.my.salesforce.com:8443/"),
        # a test server on this computer: http, and the path kept
        ("http://127.0.0.1:8123/org42", "http://127.0.0.1:8123/org42/"),
        ("http://localhost:8123/", "http://localhost:8123/"),
    ],
)
def test_my_domain_url_is_normalised(given, expected):
    cfg = SalesforceVSConfig.model_validate(
        {"client_id": "c", "identifier": "P", "my_domain_url": given}
    )
    assert cfg.my_domain_url == expected and cfg.auth_flow == CC


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "https://login.salesforce.com/",
            r"login\.salesforce\.com is Salesforce's generic login server, which does not "
            r"accept the client credentials flow; use your org's My Domain URL instead, e\.g\. "
            r"https://acme\.my\.salesforce\.com/",
        ),
        ("test.salesforce.com", r"test\.salesforce\.com is Salesforce's generic login server"),
        ("http://acme.my.salesforce.com/", r"must start with https://"),
        ("ftp://acme.my.salesforce.com/", r"must be your org's My Domain URL, starting with https"),
        (
            "https://acme.lightning.force.com/lightning/page/home",
            r"acme\.lightning\.force\.com is a browser address of the org, not its My Domain "
            r"URL; use https://acme\.my\.salesforce\.com/",
        ),
        (
            "https://acme--uat.sandbox.my.salesforce-setup.com/",
            r"acme--uat\.sandbox\.my\.salesforce-setup\.com is a browser address of the "
            r"org, not its My Domain URL; use https://acme--uat\.sandbox\.my\.salesforce\.com/",
        ),
    ],
)
def test_my_domain_url_refuses_what_client_credentials_cannot_use(given, said):
    with pytest.raises(ConfigError, match=r"^erp\.my_domain_url: " + said):
        parse_config(
            {
                "store": {"url": "http://x/"},
                "erp": {
                    "kind": "salesforce_vs",
                    "client_id": "c",
                    "identifier": "P",
                    "auth_flow": CC,
                    "my_domain_url": given,
                },
            }
        )


def test_secrets_required_per_flow():
    base = {"client_id": "c", "identifier": "P"}
    cc = SalesforceVSConfig.model_validate({**base, "my_domain_url": "acme.my.salesforce.com"})
    old = SalesforceVSConfig.model_validate({**base, "username": "u"})
    assert sf_config.secrets_for(cc) == ("erp.client_secret",)
    assert sf_config.secrets_for(old) == ("erp.password", "erp.client_secret")
    # every secret a config may need is one the registry knows for this connector
    entry = erp_entry("salesforce_vs")
    for cfg in (cc, old):
        assert set(sf_config.secrets_for(cfg)) <= set(entry.secrets)
    assert sf_config.secrets_for(cc) != entry.secrets


async def test_a_missing_secret_is_named_per_flow(sf):
    for flow, secrets, missing in (
        (CC, {}, "erp.client_secret"),
        (None, {"erp.client_secret": sf.client_secret}, "erp.password"),
        ("password", {"erp.password": "x"}, "erp.client_secret"),
    ):
        c = client_for(sf, secrets, flow=flow)
        try:
            with pytest.raises(ConfigError, match=rf"^{missing}: not set") as info:
                await c.lookup_sku(sf.skus()[0])
        finally:
            await c.aclose()
        assert info.value.code == "secret_missing"
    assert sf.token_requests == []


# -- session -------------------------------------------------------------------------------
async def test_client_credentials_log_in_at_the_my_domain_without_user_or_password(sf):
    c = client_for(sf, flow=CC)  # only the Client Secret: no erp.password at all
    try:
        sku = sf.skus()[0]
        assert await c.lookup_sku(sku) is not None
        items = await all_items(c)
        checks = await c.checks()
    finally:
        await c.aclose()
    assert [i.sku for i in items] == sf.skus()
    assert c.instance_url == sf.instance_url + "/"
    # one login for the calls, one more for the doctor's fresh login check
    assert sf.token_requests == [TokenRequest(CC, "my_domain", CC_FIELDS, 200)] * 2
    assert all(p.startswith("/org42/services/apexrest/vs/stock") for p in stock_requests(sf))
    assert checks[0].ok and checks[0].detail == f"client credentials on {sf.instance_url}/"
    assert all(ch.ok for ch in checks)


async def test_the_password_flow_is_still_served_by_login_server_and_my_domain(sf):
    # an old config; the same one naming its flow; and one with a My Domain URL, where it
    # logs in then (login_url unused)
    for flow, cfg in (
        (None, {}),
        ("password", {}),
        ("password", {"my_domain_url": sf.my_domain_url, "login_url": "http://127.0.0.1:9/"}),
    ):
        c = client_for(sf, flow=flow, **cfg)
        try:
            assert c.config.auth_flow == "password"
            assert await c.lookup_sku(sf.skus()[0]) is not None
        finally:
            await c.aclose()
    assert sf.token_requests == [
        TokenRequest("password", "login", PASSWORD_FIELDS, 200),
        TokenRequest("password", "login", PASSWORD_FIELDS, 200),
        TokenRequest("password", "my_domain", PASSWORD_FIELDS, 200),
    ]


async def test_the_simulator_takes_client_credentials_at_the_my_domain_only(sf):
    # the generic login server refuses client credentials; require_my_domain=False turns
    # that check off (what the My Domain distinction is worth, shown by its absence)
    c = client_for(sf, flow=CC, my_domain_url=sf.login_url)
    try:
        with pytest.raises(AuthError, match="request not supported on this domain"):
            await c.lookup_sku(sf.skus()[0])
        sf.require_my_domain = False
        assert await c.lookup_sku(sf.skus()[0]) is not None
    finally:
        await c.aclose()
    assert [(r.host, r.status) for r in sf.token_requests] == [("login", 400), ("login", 200)]


async def test_token_obtained_once_reused_and_calls_go_to_instance_url(sf, client):
    sku = sf.skus()[0]
    assert await client.lookup_sku(sku) is not None
    await all_items(client)
    await client.lookup_sku(sku)
    assert sf.logins == 1 and sf.count("oauth", "POST") == 1
    assert client.instance_url == sf.instance_url + "/"
    paths = stock_requests(sf)
    assert len(paths) >= 3 and all(p.startswith("/org42/services/apexrest/vs/stock") for p in paths)


async def test_expired_session_gets_one_new_token_then_the_call_is_retried(sf, client):
    sku = sf.skus()[0]
    await client.lookup_sku(sku)
    sf.expire_tokens()
    before = sf.count("stock", "GET")
    # three calls at once: one new login between them
    results = await asyncio.gather(*(client.lookup_sku(s) for s in sf.skus()[:3]))
    assert all(r is not None for r in results)
    assert sf.logins == 2
    assert sf.count("stock", "GET") == before + 6  # each: refused once, then served
    # a write refused with 401 is also renewed and sent again, once
    sf.expire_tokens()
    order, buyer = make_order("VM-000777", [sku])
    ref = await client.create_order(order, "", buyer)
    assert sf.logins == 3 and sf.count("orders", "POST") == 2
    assert sf.order_by_external("VM-000777")["orderNumber"] == ref


async def test_a_second_401_is_an_auth_error_without_more_logins(sf, client):
    await client.lookup_sku(sf.skus()[0])
    sf.faults.script("GET", "stock", 401, 401, 401)
    with pytest.raises(AuthError) as info:
        await client.lookup_sku(sf.skus()[0])
    assert sf.logins == 2  # one renewal only
    assert "Session expired or invalid" in info.value.message
    assert sf.faults.pending() == 1


@pytest.mark.parametrize(
    ("secrets", "said", "hint"),
    [
        (
            {"erp.password": "wrong-password"},
            "authentication failure (invalid_grant)",
            "security token",
        ),
        (
            {"erp.password": "Clave-Segura-2024"},
            "authentication failure (invalid_grant)",
            "security token",
        ),  # the token is missing
        (
            {"erp.client_secret": "not-the-secret"},
            "invalid client credentials (invalid_client)",
            "Client Secret",
        ),
    ],
)
async def test_wrong_credentials_are_an_auth_error_with_salesforces_description(
    sf, secrets, said, hint
):
    c = client_for(sf, secrets_for(sf, **secrets))
    try:
        with pytest.raises(AuthError) as info:
            await c.lookup_sku(sf.skus()[0])
    finally:
        await c.aclose()
    exc = info.value
    assert exc.kind == FailureKind.AUTH and said in exc.message and hint in exc.message
    assert sf.username in exc.message
    for secret in secrets.values():
        assert secret not in exc.message and secret not in (exc.server_message or "")
    assert sf.count("oauth", "POST") == 1  # refused credentials are not retried
    assert sf.count("stock") == 0


async def test_wrong_client_id_and_changed_password(sf, client):
    c = client_for(sf, client_id="3MVG9-unknown")
    try:
        with pytest.raises(AuthError, match=r"client identifier invalid \(invalid_client_id\)"):
            await all_items(c)
    finally:
        await c.aclose()
    # logged in, then the session ends and the password was changed meanwhile
    await client.lookup_sku(sf.skus()[0])
    sf.set_password("Otra-Clave-2025", "NEWTKN")
    sf.expire_tokens()
    with pytest.raises(AuthError, match="authentication failure"):
        await all_items(client)
    checks = await client.checks()
    assert checks[0].name == "ERP login" and not checks[0].ok
    assert "authentication failure" in checks[0].detail


@pytest.mark.parametrize("flow", [CC, None])
async def test_a_401_renews_the_session_once_in_both_flows(sf, flow):
    grant = CC if flow == CC else "password"
    c = client_for(sf, flow=flow)
    try:
        skus = sf.skus()[:3]
        await c.lookup_sku(skus[0])
        sf.expire_tokens()
        before = sf.count("stock", "GET")
        # three calls at once: one new login between them
        results = await asyncio.gather(*(c.lookup_sku(s) for s in skus))
        assert all(r is not None for r in results)
        assert sf.logins == 2 and sf.count("stock", "GET") == before + 6
        # a write refused with 401 is renewed and sent again, once
        sf.expire_tokens()
        order, buyer = make_order("VM-000881" if flow == CC else "VM-000882", skus[:1])
        ref = await c.create_order(order, "", buyer)
        assert sf.order_by_external(order.number)["orderNumber"] == ref
        assert sf.logins == 3 and sf.count("orders", "POST") == 2
        # a second 401 in a row: an auth error, no more logins
        sf.faults.script("GET", "stock", 401, 401, 401)
        with pytest.raises(AuthError) as info:
            await c.lookup_sku(skus[0])
    finally:
        await c.aclose()
    assert sf.logins == 4 and sf.faults.pending() == 1
    who = "'Run As' user" if flow == CC else sf.username
    assert "Session expired or invalid" in info.value.message and who in info.value.message
    assert {r.grant_type for r in sf.token_requests} == {grant}


def assert_no_secret_in(exc: AuthError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in exc.message and secret not in (exc.server_message or "")


async def test_invalid_grant_says_which_flow_it_came_from(sf):
    # client credentials, the app without that flow enabled (or without a "Run As" user)
    sf.client_credentials_enabled = False
    c = client_for(sf, flow=CC)
    try:
        with pytest.raises(AuthError) as info:
            await c.lookup_sku(sf.skus()[0])
    finally:
        await c.aclose()
    cc_exc = info.value
    assert cc_exc.code == "login_cc_invalid_grant" and cc_exc.kind == FailureKind.AUTH
    assert cc_exc.message.startswith(
        f"Salesforce refused the client credentials login at {sf.my_domain_url}: no client "
        "credentials user enabled (invalid_grant); "
    )
    assert "'Enable Client Credentials Flow'" in cc_exc.message
    assert "'Run As' user" in cc_exc.message
    assert cc_exc.server_message == "no client credentials user enabled"
    assert_no_secret_in(cc_exc, sf.client_secret)

    # client credentials sent to the generic login server instead of the My Domain
    sf.client_credentials_enabled = True
    c = client_for(sf, flow=CC, my_domain_url=sf.login_url)
    try:
        with pytest.raises(AuthError) as info:
            await c.lookup_sku(sf.skus()[0])
    finally:
        await c.aclose()
    domain_exc = info.value
    assert domain_exc.code == "login_cc_invalid_grant"
    assert "client credentials login" in domain_exc.message
    assert "request not supported on this domain (invalid_grant)" in domain_exc.message
    assert "only works at your org's My Domain URL" in domain_exc.message
    assert "https://acme.my.salesforce.com/" in domain_exc.message

    # an org that blocks the username-password flow: right credentials, refused all the same
    sf.allow_password_flow = False
    c = client_for(sf)  # an old config
    try:
        with pytest.raises(AuthError) as info:
            await c.lookup_sku(sf.skus()[0])
    finally:
        await c.aclose()
    pw_exc = info.value
    assert pw_exc.code == "login_invalid_grant"  # as before client credentials existed
    assert pw_exc.message.startswith(
        f"Salesforce refused the username-password login of {sf.username} at {sf.login_url}: "
        "authentication failure (invalid_grant); check the Username and the Password"
    )
    assert "security token" in pw_exc.message
    assert "switch to client credentials" in pw_exc.message
    assert "client_credentials" in pw_exc.message and "My Domain URL" in pw_exc.message
    assert_no_secret_in(pw_exc, sf.password, sf.security_token, sf.client_secret)

    # the same org, through client credentials: logged in
    c = client_for(sf, flow=CC)
    try:
        assert await c.lookup_sku(sf.skus()[0]) is not None
    finally:
        await c.aclose()
    assert len({cc_exc.code, pw_exc.code}) == 2
    assert [(r.grant_type, r.host, r.status) for r in sf.token_requests] == [
        (CC, "my_domain", 400),
        (CC, "login", 400),
        ("password", "login", 400),
        (CC, "my_domain", 200),
    ]
    assert sf.count("stock") == 1  # refused logins are not retried, nor followed by calls


@pytest.mark.parametrize(
    ("over", "code", "said"),
    [
        ({"client_id": "3MVG9-unknown"}, "login_cc_invalid_client_id", "client identifier invalid"),
        ({}, "login_cc_invalid_client", "invalid client credentials"),
    ],
)
async def test_client_credentials_wrong_app_credentials(sf, over, code, said):
    secrets = {"erp.client_secret": "not-the-secret"} if not over else None
    c = client_for(sf, secrets, flow=CC, **over)
    try:
        with pytest.raises(AuthError) as info:
            await all_items(c)
    finally:
        await c.aclose()
    assert info.value.code == code
    assert f"client credentials login at {sf.my_domain_url}: {said}" in info.value.message
    assert "Client ID" in info.value.message
    assert "not-the-secret" not in info.value.message
    assert sf.count("oauth", "POST") == 1


# -- catalog -------------------------------------------------------------------------------
async def test_pagination_and_rows_of_one_sku_added_up_across_pages(sf):
    rows = sum(len(p.stock) for p in sf.products.values())
    c = client_for(sf, page_size=5)
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    assert all(isinstance(i, CatalogItem) for i in items)
    assert [i.sku for i in items] == sf.skus()  # each SKU once, in order
    for item in items:
        assert item.available == Decimal(str(sf.available(item.sku))), item.sku
        price = sf.price(item.sku)
        assert item.price == (None if price is None else Decimal(str(price)))
    pages = stock_requests(sf)
    assert len(pages) == math.ceil(rows / 5)
    assert [int(p.split("page=")[1].split("&")[0]) for p in pages] == list(range(1, len(pages) + 1))
    # some SKU had its rows (one per warehouse) on two pages: added up, not repeated
    listed = [s for s in sf.skus() for _ in sf.products[s].stock]
    assert any(listed[i - 1] == listed[i] for i in range(5, len(listed), 5))
    assert any(i.available < 0 for i in items)  # below zero is passed on as is


async def test_a_server_that_caps_the_page_size_is_paged_to_the_end(sf):
    sf.max_page_size = 4
    c = client_for(sf, page_size=50)
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    assert [i.sku for i in items] == sf.skus()


async def test_warehouse_companies_and_price_list_filters(sf):
    c = client_for(sf, warehouse="DEP-CENTRAL", companies="EMPRESA2", price_list="Lista_001")
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    expected = [s for s in sf.skus("EMPRESA2") if "DEP-CENTRAL" in sf.products[s].stock]
    assert [i.sku for i in items] == expected and expected
    for item in items:
        assert item.sku.startswith("E2-")
        assert item.available == Decimal(str(sf.available(item.sku, "DEP-CENTRAL")))
        price = sf.price(item.sku, "Lista_001")
        assert item.price == (None if price is None else Decimal(str(price)))
    assert all(
        "warehouse=DEP-CENTRAL" in p and "company=EMPRESA2" in p and "priceList=Lista_001" in p
        for p in stock_requests(sf)
    )


@pytest.mark.parametrize(
    ("style", "query"),
    [("repeat", "company=EMPRESA1&company=EMPRESA2"), ("comma", "company=EMPRESA1%2CEMPRESA2")],
)
async def test_several_companies_repeated_or_comma_joined(sf, style, query):
    c = client_for(sf, companies=["EMPRESA1", "EMPRESA2"], companies_style=style)
    try:
        items = await all_items(c)
    finally:
        await c.aclose()
    assert [i.sku for i in items] == sf.skus()
    assert all(query in p for p in stock_requests(sf))


async def test_a_server_ignoring_the_warehouse_filter_still_gives_that_warehouse_only(sf):
    # the real parameter name differs from the configured one: the server lists every
    # warehouse, and the connector keeps only the configured one
    c = client_for(sf, warehouse="DEP-NORTE", warehouse_param="deposito")
    try:
        items = await all_items(c)
        checks = {ch.name: ch for ch in await c.checks()}
    finally:
        await c.aclose()
    expected = [s for s in sf.skus() if "DEP-NORTE" in sf.products[s].stock]
    assert [i.sku for i in items] == expected
    assert all(i.available == Decimal(str(sf.available(i.sku, "DEP-NORTE"))) for i in items)
    assert "ignore the 'deposito' parameter" in checks["ERP warehouse"].detail


async def test_unknown_warehouse_or_company_is_reported_with_the_servers_message(sf):
    c = client_for(sf, warehouse="DEP-OESTE", companies="EMPRESA1, EMPRESA9")
    try:
        with pytest.raises(DataError, match="Unknown warehouse: DEP-OESTE"):
            await all_items(c)
        checks = {(ch.name, ch.detail): ch.ok for ch in await c.checks()}
    finally:
        await c.aclose()
    assert checks[("ERP login", f"{sf.username} on {sf.instance_url}/")]
    assert not checks[("ERP warehouse", "Unknown warehouse: DEP-OESTE (INVALID_FILTER)")]
    assert checks[("ERP company", "company 'EMPRESA1' found")]
    assert not checks[("ERP company", "Unknown company: EMPRESA9 (INVALID_FILTER)")]


async def test_org_api_limit_is_not_taken_for_bad_credentials(sf, client):
    sf.faults.script("GET", "stock", 403, 403, 403)
    with pytest.raises(RateLimitedError, match="API request limit"):
        await client.lookup_sku(sf.skus()[0])
    assert sf.logins == 1


async def test_lookup_one_sku(sf, client):
    sku = next(s for s in sf.skus() if len(sf.products[s].stock) > 1)
    item = await client.lookup_sku(sku)
    assert item == CatalogItem(sku, Decimal(str(sf.available(sku))), Decimal(str(sf.price(sku))))
    assert await client.lookup_sku("E1-NOEXISTE") is None
    paths = stock_requests(sf)
    assert len(paths) == 2 and f"sku={sku}" in paths[0]


async def test_a_wrong_path_is_a_config_error_not_an_empty_catalog(sf):
    c = client_for(sf, stock_path="services/apexrest/vs/stocks")
    try:
        with pytest.raises(ConfigError, match=r"erp\.stock_path"):
            await all_items(c)
    finally:
        await c.aclose()


# -- orders --------------------------------------------------------------------------------
async def test_order_carries_the_identifier_as_origin_and_the_buyer_inline(sf, client):
    skus = sf.skus()[:2]
    order, buyer = make_order("VM-001001", skus)
    ref = await client.create_order(order, "", buyer)
    created = sf.order_by_external("VM-001001")
    assert created["orderNumber"] == ref and ref.startswith("PV-")
    assert created["origin"] == IDENTIFIER and created["externalId"] == "VM-001001"
    assert created["customer"] == {
        "name": "Distribuidora Ñandú SRL",
        "documentType": "CUIT",
        "documentNumber": buyer.document.number,
        "taxCondition": "1",
        "email": "compras@nandu.com.ar",
        "phone": "11 4555-0101",
        "address": {
            "street": "Av. Corrientes",
            "number": "1234",
            "floor": "4° A",
            "city": "CABA",
            "province": "Ciudad Autónoma de Buenos Aires",
            "postalCode": "C1043AAZ",
        },
    }
    assert [(i["sku"], i["quantity"], i["unitPrice"], i["discount"]) for i in created["items"]] == [
        (skus[0], 2, 1500.5, 10.0),
        (skus[1], 3, 1500.5, 10.0),
    ]
    assert created["paymentTerms"] == "30 días" and created["notes"] == "Entregar por la mañana"
    # a final consumer with a DNI
    order, buyer = make_order(
        "VM-001002", skus[:1], tax_id="23.456.789", condition="consumidor_final"
    )
    await client.create_order(order, "", buyer)
    customer = sf.order_by_external("VM-001002")["customer"]
    assert (customer["documentType"], customer["documentNumber"], customer["taxCondition"]) == (
        "DNI",
        "23456789",
        "5",
    )


@pytest.mark.parametrize("status", [400, 409])
async def test_duplicate_external_id_is_refused_then_found(status):
    sim = SalesforceVSSimulator(duplicate_status=status)
    await sim.start()
    c = client_for(sim, secrets_for(sim))
    try:
        order, buyer = make_order("VM-002001", sim.skus()[:1])
        assert await c.find_order(order) is None
        first = await c.create_order(order, "", buyer)
        with pytest.raises(DuplicateError) as info:
            await c.create_order(order, "", buyer)
        assert "VM-002001" in info.value.message
        assert "DUPLICATE_EXTERNAL_ID" in (info.value.server_message or "")
        assert await c.find_order(order) == first
    finally:
        await c.aclose()
        await sim.stop()
    assert len(sim.orders) == 1
    assert sim.count("orders", "POST") == 2  # a 409 duplicate is not retried as a conflict


async def test_find_order_ignores_the_same_number_from_another_origin(sf, client):
    order, buyer = make_order("VM-003001", sf.skus()[:1])
    other = client_for(sf, identifier="MERCADOLIBRE")
    try:
        await other.create_order(order, "", buyer)
    finally:
        await other.aclose()
    assert await client.find_order(order) is None


async def test_validation_errors_carry_the_servers_message(sf, client):
    order, buyer = make_order("VM-004001", [sf.skus()[0], "E1-NOEXISTE"])
    with pytest.raises(DataError) as info:
        await client.create_order(order, "", buyer)
    exc = info.value
    assert not isinstance(exc, DuplicateError)
    assert (
        exc.server_message == "Producto inexistente: E1-NOEXISTE "
        "(FIELD_CUSTOM_VALIDATION_EXCEPTION)"
    )
    assert "VM-004001" in exc.message and "Producto inexistente: E1-NOEXISTE" in exc.message
    assert sf.orders == {}
    # a code the ERP does not know for the IVA condition
    c = client_for(sf, tax_conditions={"responsable_inscripto": "RI"})
    try:
        order, buyer = make_order("VM-004002", sf.skus()[:1])
        with pytest.raises(DataError, match="bad value for restricted picklist field: RI"):
            await c.create_order(order, "", buyer)
    finally:
        await c.aclose()


async def test_customers_are_never_looked_up(client):
    _, buyer = make_order("VM-1", ["X"])
    with pytest.raises(ConfigError):
        await client.find_customer(buyer)
    with pytest.raises(ConfigError):
        await client.create_customer(buyer)


# -- engine and CLI ------------------------------------------------------------------------
def write_config(
    tmp_path: Path,
    store_url: str,
    sim: SalesforceVSSimulator,
    extra: str = "",
    flow: str | None = None,
) -> Paths:
    """A config file: flow None as written before client credentials existed (username and
    login_url, no auth_flow), CC as a new install's."""
    paths = Paths(config_file=tmp_path / "profile" / "config.toml", data_dir=tmp_path / "profile")
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    if flow == CC:
        login = f'auth_flow = "{CC}"\nmy_domain_url = "{sim.my_domain_url}"'
    else:
        login = f'username = "{sim.username}"\nlogin_url = "{sim.login_url}"'
    paths.config_file.write_text(
        f"""\
[store]
url = "{store_url}"

[erp]
kind = "salesforce_vs"
{login}
client_id = "{sim.client_id}"
identifier = "{IDENTIFIER}"
warehouse = ""
companies = "EMPRESA1, EMPRESA2"
page_size = 10
{extra}
[sync]
orders_interval_s = 5
catalog_interval_s = 300
retry_base_s = 1
full_catalog_every_h = 0
""",
        encoding="utf-8",
    )
    return paths


def session_secrets(sim: SalesforceVSSimulator) -> SecretStore:
    store = SecretStore(use_keyring=False)
    store.set_session("store.token", STORE_TOKEN)
    store.set_session("erp.password", sim.password + sim.security_token)
    store.set_session("erp.client_secret", sim.client_secret)
    return store


def cc_session_secrets(sim: SalesforceVSSimulator, config: Config) -> SecretStore:
    """What a client credentials install has: the store's token and the Client Secret."""
    store = SecretStore(use_keyring=False)
    store.set_session("store.token", STORE_TOKEN)
    store.set_session("erp.client_secret", sim.client_secret)
    if "erp.password" in required_secrets(config):
        # an engine that still asks for every secret in config.SECRETS instead of
        # secrets_for(config): give it one the connector never sends
        store.set_session("erp.password", "unused-by-client-credentials")
    return store


@pytest.fixture
async def store(sf):
    # the store starts with stale stock: the first sync corrects it
    sim = StoreSimulator(
        token=STORE_TOKEN, seed=5, products=[(s, n + 3, p) for s, n, p in sf.store_rows()]
    )
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def engine(tmp_path, sf, store):
    paths = write_config(tmp_path, store.base_url, sf)
    eng = Engine(load_config(paths.config_file), paths, session_secrets(sf), policy=FAST)
    await eng.open()
    yield eng
    await eng.stop()
    eng.close()


async def test_engine_order_once_with_buyer_inline_and_stock_to_the_store(engine, sf, store):
    # the config file has no auth_flow: the username-password flow, as before
    assert sf_erp(engine.config).auth_flow == "password"
    skus = sf.skus()[:2]
    o = store.add_order(items=[(skus[0], 2), (skus[1], 1)])
    results = await engine.sync_now("all")
    assert [r.status for r in results] == ["ok", "ok"], [r.message for r in results]
    [created] = sf.orders.values()
    assert created["origin"] == IDENTIFIER and created["externalId"] == o["number"]
    assert created["customer"]["name"] == o["buyer"]["business_name"]
    assert [i["sku"] for i in created["items"]] == skus
    assert store.orders[o["id"]]["erp_status"] == "sent"
    assert store.orders[o["id"]]["erp_reference"] == created["orderNumber"]
    for sku in sf.skus():
        assert store.products[sku]["stock"] == max(0, math.floor(sf.available(sku))), sku
    # nothing sent twice
    await engine.sync_now("orders")
    assert len(sf.orders) == 1 and sf.count("orders", "POST") == 1
    # one product now
    sku = sf.skus()[5]
    sf.set_stock(sku, next(iter(sf.products[sku].stock)), 77)
    sf.set_price(sku, "Lista_000", 1234.5)
    store.patches.clear()
    result = await engine.sync_sku(sku)
    assert result.status == "ok", result.message
    assert store.patches == [
        [{"sku": sku, "stock": math.floor(sf.available(sku)), "price": "1234.50"}]
    ]
    assert store.products[sku]["price"] == "1234.50"
    assert {(r.grant_type, r.host, r.fields) for r in sf.token_requests} == {
        ("password", "login", PASSWORD_FIELDS)
    }


async def test_engine_with_client_credentials_orders_and_catalog(tmp_path, sf, store):
    paths = write_config(tmp_path, store.base_url, sf, flow=CC)
    config = load_config(paths.config_file)
    assert sf_erp(config).auth_flow == CC and sf_erp(config).username == ""
    eng = Engine(config, paths, cc_session_secrets(sf, config), policy=FAST)
    await eng.open()
    try:
        skus = sf.skus()[:2]
        o = store.add_order(items=[(skus[0], 3), (skus[1], 1)])
        results = await eng.sync_now("all")
        assert [r.status for r in results] == ["ok", "ok"], [r.message for r in results]
        [created] = sf.orders.values()
        assert created["origin"] == IDENTIFIER and created["externalId"] == o["number"]
        assert [(i["sku"], i["quantity"]) for i in created["items"]] == [(skus[0], 3), (skus[1], 1)]
        assert store.orders[o["id"]]["erp_status"] == "sent"
        assert store.orders[o["id"]]["erp_reference"] == created["orderNumber"]
        for sku in sf.skus():
            assert store.products[sku]["stock"] == max(0, math.floor(sf.available(sku))), sku
        # the session ends: renewed through client credentials, nothing sent twice
        sf.expire_tokens()
        sku = sf.skus()[4]
        sf.set_stock(sku, next(iter(sf.products[sku].stock)), 55)
        result = await eng.sync_sku(sku)
        assert result.status == "ok", result.message
        assert store.products[sku]["stock"] == math.floor(sf.available(sku))
        await eng.sync_now("orders")
        assert len(sf.orders) == 1 and sf.count("orders", "POST") == 1
    finally:
        await eng.stop()
        eng.close()
    # no user, no password: only the app's credentials, only at the My Domain
    assert sf.token_requests and {(r.grant_type, r.host, r.fields) for r in sf.token_requests} == {
        (CC, "my_domain", CC_FIELDS)
    }


async def test_engine_client_credentials_refused_says_so(tmp_path, sf, store):
    sf.client_credentials_enabled = False
    paths = write_config(tmp_path, store.base_url, sf, flow=CC)
    config = load_config(paths.config_file)
    eng = Engine(config, paths, cc_session_secrets(sf, config), policy=FAST)
    try:
        [result] = await eng.sync_now("catalog")
        errors = [e for e in eng.state.errors.recent() if e["pipeline"] == "catalog"]
    finally:
        await eng.stop()
        eng.close()
    assert result.status == "failed"
    assert "client credentials login" in result.message
    assert "no client credentials user enabled (invalid_grant)" in result.message
    [err] = errors
    assert err["kind"] == "auth" and "'Run As' user" in err["message"]


async def test_engine_duplicate_refusal_is_reconciled(engine, sf, store):
    o = store.add_order()
    await engine.sync_now("orders")
    # the store lost our report and lists the order again; our state was lost too
    engine.state._db.execute("DELETE FROM outbox")
    store.orders[o["id"]]["erp_status"] = "pending"
    [result] = await engine.sync_now("orders")
    assert result.status == "ok", result.message
    assert len(sf.orders) == 1 and sf.count("orders", "POST") == 2
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    [created] = sf.orders.values()
    assert store.orders[o["id"]]["erp_reference"] == created["orderNumber"]


async def test_engine_lost_reply_is_reconciled_not_resent(engine, sf, store):
    o = store.add_order()
    sf.faults.script("POST", "orders", "drop_after")
    await engine.sync_now("orders")
    assert len(sf.orders) == 1
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "transient"
    engine.state._db.execute("UPDATE outbox SET next_attempt_at = 0")
    await engine.sync_now("orders")
    assert len(sf.orders) == 1 and sf.count("orders", "POST") == 1
    assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
    assert store.orders[o["id"]]["erp_status"] == "sent"


async def test_engine_shows_the_erps_validation_message_and_login_failures(engine, sf, store):
    o = store.add_order(items=[("E1-NOEXISTE", 1)])
    await engine.sync_now("orders")
    row = engine.state.outbox.get(o["id"])
    assert row.state == OrderState.FAILED and row.failure_kind == "data"
    [err] = engine.state.errors.recent()
    assert "Producto inexistente: E1-NOEXISTE" in err["message"]
    assert "Producto inexistente" in err["server_message"]
    assert "Producto inexistente" in store.orders[o["id"]]["erp_message"]
    # wrong password: an auth error with Salesforce's description, for the merchant
    secrets = session_secrets(sf)
    secrets.set_session("erp.password", "Wr0ng-Passw0rd")
    eng = Engine(load_config(engine.paths.config_file), engine.paths, secrets, policy=FAST)
    try:
        [result] = await eng.sync_now("catalog")
    finally:
        await eng.stop()
    assert result.status == "failed"
    assert "authentication failure (invalid_grant)" in result.message
    assert "Wr0ng-Passw0rd" not in result.message
    [err] = [e for e in eng.state.errors.recent() if e["pipeline"] == "catalog"]
    assert err["kind"] == "auth" and "authentication failure" in err["message"]


def test_cli_sync_one_sku(tmp_path):
    sim = SalesforceVSSimulator(seed=8)
    sim.start_in_thread()
    store = StoreSimulator(token=STORE_TOKEN, products=[(s, 0, "1.00") for s in sim.skus()])
    store.start_in_thread()
    try:
        paths = write_config(tmp_path, store.base_url, sim)
        sku = next(s for s in sim.skus() if sim.available(s) > 0)
        env = {
            "BRIDGE_CONFIG": str(paths.config_file),
            "BRIDGE_DATA_DIR": str(paths.data_dir),
            "BRIDGE_SECRET_STORE_TOKEN": STORE_TOKEN,
            "BRIDGE_SECRET_ERP_PASSWORD": sim.password + sim.security_token,
            "BRIDGE_SECRET_ERP_CLIENT_SECRET": sim.client_secret,
        }
        r = subprocess.run(
            [sys.executable, "-m", "launcher", "sync", "catalog", "--sku", sku],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        stock = math.floor(sim.available(sku))
        price = f"{sim.price(sku):.2f}"
        assert r.stdout.strip() == f"catalog: ok — SKU {sku}: stock {stock}, price {price}"
        assert store.call(lambda: store.products[sku]) == {"stock": stock, "price": price}
        assert store.call(lambda: len(store.patches)) == 1
        assert sim.call(lambda: sim.logins) == 1
        assert sim.password not in r.stdout + r.stderr
    finally:
        store.stop_thread()
        sim.stop_thread()


async def test_engine_out_of_range_rows_are_errors_of_their_own(engine, sf, store):
    """Poisoned rows among good ones (before: 1e19 units overflowed SQLite, a price of
    "1E+400" failed the rounding to cents: the whole run stopped, nothing pushed). A
    warehouse's quantity is checked before the warehouses are added up."""
    skus = sf.skus()
    first_warehouse = {sku: next(iter(sf.products[sku].stock)) for sku in skus}
    sf.set_stock(skus[1], first_warehouse[skus[1]], 1e19)
    sf.set_price(skus[2], "Lista_000", "1E+400")  # text on the wire, as some servers send
    sf.set_price(skus[3], "Lista_000", 1e30)
    sf.set_stock(skus[4], first_warehouse[skus[4]], float("nan"))
    # in range in each warehouse, not all added up
    several = next(s for s in skus[6:] if len(sf.products[s].stock) > 1)
    for w in sf.products[several].stock:
        sf.set_stock(several, w, 9e8)
    bad = [*skus[1:5], several]
    for product in store.products.values():
        product["stock"] = -1  # so that every pushed row shows
    [result] = await engine.sync_now("catalog")
    assert result.status == "partial", result.message
    assert result.items_failed == len(bad)
    errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
    w1 = first_warehouse[skus[1]]
    said = {
        skus[1]: f"'available' in warehouse {w1} is 1E+19, beyond the ±1,000,000,000 units",
        skus[2]: "price is 1E+400, more than the 1,000,000,000,000 Bridge takes",
        skus[3]: "price is 1E+30, more than",
        skus[4]: "is nan, not a number",
        several: "'available' (all warehouses) is 1800000000.0, beyond",
    }
    for sku, text in said.items():
        assert text in errors[f"sku:{sku}"], errors[f"sku:{sku}"]
    for sku in skus:
        expected = -1 if sku in bad else max(0, math.floor(sf.available(sku)))
        assert store.products[sku]["stock"] == expected, sku


@pytest.mark.parametrize("fault", ["claimed_total", "ignore_page", "repeat_page"])
async def test_engine_paging_faults_end_the_run_with_bounded_requests(
    engine, sf, store, caplog, fault
):
    """10 rows a page. A huge claimed totalSize (never `done`) ends with the first empty
    page (a warning says so); a repeated page stops the run with a clear error, nothing
    pushed (bridge.paging)."""
    if fault == "claimed_total":
        sf.paging.claimed_total = 10**9
    elif fault == "ignore_page":
        sf.paging.ignore_page = True
        sf.paging.claimed_total = 10**9  # and never `done`
    else:
        sf.paging.repeat_page = 2
    # a runaway client fails here instead of hanging
    sf.faults.script("GET", "stock", *([None] * 30), *([400] * 100_000))
    events: list = []
    engine.events.subscribe(events.append)
    for product in store.products.values():
        product["stock"] = -1  # so that anything pushed would show
    with caplog.at_level("WARNING", logger="bridge.paging"):
        [result] = await engine.sync_now("catalog")
    pages = -(-sum(len(p.stock) for p in sf.products.values()) // 10)
    print(
        f"{fault}: {sf.count('stock', 'GET')} stock requests for {pages} pages, "
        f"{len(events)} events"
    )
    assert sf.count("stock", "GET") <= pages + 1
    if fault == "claimed_total":
        assert result.status == "ok", result.message
        assert any("claimed 1,000,000,000 rows" in r.getMessage() for r in caplog.records)
        return
    assert result.status == "failed", result.message
    assert (
        "Salesforce answered page 2 of the stock list (services/apexrest/vs/stock) with "
        "the same rows as page 1: it ignores the page parameter or repeats pages" in result.message
    )
    assert store.patches == [] and result.items_ok == 0
    assert len(events) <= 5, [e.code for e in events]
