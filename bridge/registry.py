"""The connector registry: the one place that maps an `erp.kind` to its connector.

The engine asks here for a config model and a factory; nothing else in the engine knows
which ERPs exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.config import ErpConfigBase, StoreConfig
from bridge.fields import FieldSpec
from bridge.http import RetryPolicy
from bridge.model import Capabilities, ErpConnector, StoreConnector


@dataclass(frozen=True)
class ErpEntry:
    kind: str
    title: str
    config_model: type[ErpConfigBase]
    capabilities: Capabilities
    factory: Callable[[Any, Mapping[str, str], RetryPolicy | None], ErpConnector]
    # secrets this connector needs, as keyring names
    secrets: tuple[str, ...] = ("erp.token",)
    # the settings form, in the vendor page's order
    fields: tuple[FieldSpec, ...] = ()
    # the secrets one config needs, where that depends on the config (else `secrets`)
    secrets_for: Callable[[Any], tuple[str, ...]] | None = None


def _load(kind: str, title: str, package: str) -> Callable[[], ErpEntry]:
    """A connector package provides `config.<Name>Config`, `config.UI_FIELDS`,
    `config.SECRETS` (every secret it may use), optionally `config.secrets_for(config)`
    (those one config needs), and `client.CLIENT` (its class, with `capabilities`)."""

    def load() -> ErpEntry:
        import importlib

        config = importlib.import_module(f"connectors.{package}.config")
        client = importlib.import_module(f"connectors.{package}.client")
        cls = client.CLIENT
        return ErpEntry(
            kind=kind,
            title=title,
            config_model=config.CONFIG,
            capabilities=cls.capabilities,
            factory=lambda cfg, secrets, policy: cls(cfg, secrets, policy),
            secrets=tuple(config.SECRETS),
            fields=tuple(config.UI_FIELDS),
            secrets_for=getattr(config, "secrets_for", None),
        )

    return load


_LOADERS: dict[str, Callable[[], ErpEntry]] = {
    "dragonfish": _load("dragonfish", "Dragonfish (ZooLogic)", "dragonfish"),
    "acqua": _load("acqua", "Acqua", "acqua"),
    "nonsistemas": _load("nonsistemas", "NonSistemas", "nonsistemas"),
    "salesforce_vs": _load("salesforce_vs", "Salesforce Virtual Seller", "salesforce_vs"),
    "folder": _load("folder", "Carpeta de importación (CSV)", "folder"),
}
_CACHE: dict[str, ErpEntry] = {}


def erp_kinds() -> list[str]:
    """The ERPs whose connector is installed, in the registry's order."""
    out = []
    for kind in _LOADERS:
        try:
            erp_entry(kind)
        except ImportError:
            continue
        out.append(kind)
    return out


def erp_entry(kind: Any) -> ErpEntry:
    if kind not in _LOADERS:
        raise KeyError(f"unknown ERP '{kind}'; known: {', '.join(erp_kinds())}")
    if kind not in _CACHE:
        _CACHE[kind] = _LOADERS[kind]()
    return _CACHE[kind]


def erp_config_model(kind: Any) -> type[ErpConfigBase]:
    return erp_entry(kind).config_model


def erp_secrets(config: ErpConfigBase) -> tuple[str, ...]:
    """The keyring secrets this ERP config needs."""
    entry = erp_entry(config.kind)
    return tuple(entry.secrets_for(config)) if entry.secrets_for else entry.secrets


def make_erp(
    config: ErpConfigBase, secrets: Mapping[str, str], policy: RetryPolicy | None = None
) -> ErpConnector:
    return erp_entry(config.kind).factory(config, secrets, policy)


def make_store(
    config: StoreConfig, token: str, policy: RetryPolicy | None = None
) -> StoreConnector:
    from connectors.store.client import StoreClient

    return StoreClient(config, token, policy)
