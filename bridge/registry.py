"""The connector registry: the one place that maps an `erp.kind` to its connector.

The engine asks here for a config model and a factory; nothing else in the engine knows
which ERPs exist.
"""

from __future__ import annotations

from collections.abc import Callable
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
    factory: Callable[[Any, str, RetryPolicy | None], ErpConnector]
    # secrets this connector needs, as keyring names
    secrets: tuple[str, ...] = ("erp.token",)
    # the settings form, in the vendor page's order
    fields: tuple[FieldSpec, ...] = ()


def _dragonfish() -> ErpEntry:
    from connectors.dragonfish.client import DragonfishClient
    from connectors.dragonfish.config import UI_FIELDS, DragonfishConfig

    return ErpEntry(
        kind="dragonfish",
        title="Dragonfish (ZooLogic)",
        config_model=DragonfishConfig,
        capabilities=DragonfishClient.capabilities,
        factory=lambda cfg, token, policy: DragonfishClient(cfg, token, policy),
        fields=UI_FIELDS,
    )


_LOADERS: dict[str, Callable[[], ErpEntry]] = {"dragonfish": _dragonfish}
_CACHE: dict[str, ErpEntry] = {}


def erp_kinds() -> list[str]:
    return sorted(_LOADERS)


def erp_entry(kind: Any) -> ErpEntry:
    if kind not in _LOADERS:
        raise KeyError(f"unknown ERP '{kind}'; known: {', '.join(erp_kinds())}")
    if kind not in _CACHE:
        _CACHE[kind] = _LOADERS[kind]()
    return _CACHE[kind]


def erp_config_model(kind: Any) -> type[ErpConfigBase]:
    return erp_entry(kind).config_model


def make_erp(config: ErpConfigBase, token: str, policy: RetryPolicy | None = None) -> ErpConnector:
    return erp_entry(config.kind).factory(config, token, policy)


def make_store(config: StoreConfig, token: str, policy: RetryPolicy | None = None) -> StoreConnector:
    from connectors.store.client import StoreClient

    return StoreClient(config, token, policy)
