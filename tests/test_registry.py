"""The connector registry: connectors register their specs (connectors.register(), which
tests/conftest.py calls like the program's entry point); the registry knows none by itself,
and the secrets Bridge knows and the bundle's connector modules come from the specs."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

import connectors
from bridge import registry
from bridge.config import StoreConfig
from bridge.secrets import known_secrets
from connectors.store.client import StoreClient


@pytest.fixture
def unregistered() -> Iterator[None]:
    registry.unregister_all()
    try:
        yield
    finally:
        connectors.register()


def test_registered_kinds_in_order_with_their_specs():
    assert registry.erp_kinds() == ["dragonfish", "acqua", "nonsistemas", "salesforce_vs", "folder"]
    for kind in registry.erp_kinds():
        spec = registry.erp_entry(kind)
        assert spec.kind == kind and spec.title and spec.fields
        assert registry.erp_config_model(kind) is spec.config_model
    assert registry.erp_entry("dragonfish").secrets == ("erp.token",)
    assert registry.erp_entry("folder").secrets == ()


def test_known_secrets_are_derived_from_the_specs():
    assert known_secrets() == {
        "store.token": "Store API token",
        "erp.token": "ERP token",
        "erp.password": "ERP password",
        "erp.client_secret": "ERP client secret",
        "alerts.password": "SMTP password",
    }
    every_erp_secret = {s for k in registry.erp_kinds() for s in registry.erp_entry(k).secrets}
    assert every_erp_secret <= set(known_secrets())


def test_registering_again_changes_nothing():
    before = {k: registry.erp_entry(k) for k in registry.erp_kinds()}
    connectors.register()
    assert {k: registry.erp_entry(k) for k in registry.erp_kinds()} == before


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown ERP 'sap'; known: dragonfish, acqua"):
        registry.erp_entry("sap")


@pytest.mark.usefixtures("unregistered")
def test_nothing_registered_is_a_programming_error():
    for ask in (
        registry.erp_kinds,
        lambda: registry.erp_entry("acqua"),
        lambda: registry.make_store(StoreConfig(url="http://store.invalid/"), "t0ken"),
        known_secrets,
    ):
        with pytest.raises(registry.NotRegisteredError, match="connectors not registered"):
            ask()


async def test_the_store_comes_from_its_spec():
    store = registry.make_store(StoreConfig(url="http://store.invalid/"), "t0ken-1234")
    try:
        assert isinstance(store, StoreClient)
    finally:
        await store.aclose()


def test_the_engine_and_registry_import_no_connector():
    code = (
        "import sys, bridge.registry, bridge.engine, bridge.config, bridge.secrets\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'connectors'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"


def test_bundled_modules_cover_every_registered_connector():
    modules = connectors.bundled_modules()
    for kind in registry.erp_kinds():
        assert f"connectors.{kind}.client" in modules
    assert "connectors.store.client" in modules
    for name in modules:
        importlib.import_module(name)
