"""The connector registry: the one place that maps an `erp.kind` to its connector.

The engine asks here for a config model and a factory; nothing else in the engine knows
which ERPs exist. The registry knows none either: each connector package describes itself
with an `ErpSpec` (the store with a `StoreSpec`), and the composition root registers them
(`connectors.register()`) before anything asks. Being asked before that is a programming
error (`NotRegisteredError`), not a merchant's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.config import ErpConfigBase, StoreConfig
from bridge.fields import FieldSpec
from bridge.http import RetryPolicy
from bridge.model import Capabilities, ErpConnector, StoreConnector


@dataclass(frozen=True)
class ErpSpec:
    """What an ERP connector package tells the registry about itself."""

    kind: str
    title: str
    config_model: type[ErpConfigBase]
    capabilities: Capabilities
    factory: Callable[[Any, Mapping[str, str], RetryPolicy | None], ErpConnector]
    # every secret this connector may use (keyring name -> label), in the order asked for
    secret_labels: Mapping[str, str] = field(default_factory=lambda: {"erp.token": "ERP token"})
    # the settings form, in the vendor page's order
    fields: tuple[FieldSpec, ...] = ()
    # the secrets one config needs, where that depends on the config (else `secrets`)
    secrets_for: Callable[[Any], tuple[str, ...]] | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this connector may use, as keyring names."""
        return tuple(self.secret_labels)


@dataclass(frozen=True)
class StoreSpec:
    """What the store connector package tells the registry about itself."""

    title: str
    factory: Callable[[StoreConfig, str, RetryPolicy | None], StoreConnector]
    # the store's secrets (keyring name -> label)
    secret_labels: Mapping[str, str] = field(
        default_factory=lambda: {"store.token": "Store API token"}
    )


class NotRegisteredError(RuntimeError):
    """A connector was asked for before `connectors.register()` ran."""

    def __init__(self) -> None:
        super().__init__(
            "connectors not registered: the program's entry point must call "
            "connectors.register() before anything asks bridge.registry for a connector"
        )


_ERPS: dict[str, ErpSpec] = {}
_STORE: list[StoreSpec] = []


def register(*specs: ErpSpec | StoreSpec) -> None:
    """Make connectors known, in the order given (the order `erp_kinds()` lists them).
    Registering a kind again replaces its spec."""
    for spec in specs:
        if isinstance(spec, StoreSpec):
            _STORE[:] = [spec]
        else:
            _ERPS[spec.kind] = spec


def unregister_all() -> None:
    """Forget every connector (for tests of the registry itself)."""
    _ERPS.clear()
    _STORE.clear()


def _erps() -> dict[str, ErpSpec]:
    if not _ERPS:
        raise NotRegisteredError()
    return _ERPS


def _store() -> StoreSpec:
    if not _STORE:
        raise NotRegisteredError()
    return _STORE[0]


def erp_kinds() -> list[str]:
    """The ERPs whose connector is registered, in the registry's order."""
    return list(_erps())


def erp_entry(kind: Any) -> ErpSpec:
    erps = _erps()
    if kind not in erps:
        raise KeyError(f"unknown ERP '{kind}'; known: {', '.join(erps)}")
    return erps[kind]


def erp_config_model(kind: Any) -> type[ErpConfigBase]:
    return erp_entry(kind).config_model


def erp_secrets(config: ErpConfigBase) -> tuple[str, ...]:
    """The keyring secrets this ERP config needs."""
    entry = erp_entry(config.kind)
    return tuple(entry.secrets_for(config)) if entry.secrets_for else entry.secrets


def secret_labels() -> dict[str, str]:
    """Every secret a registered connector may use (keyring name -> label): the store's,
    then the ERPs' in the registry's order (a name shared by several ERPs once)."""
    labels = dict(_store().secret_labels)
    for spec in _erps().values():
        for name, label in spec.secret_labels.items():
            labels.setdefault(name, label)
    return labels


def make_erp(
    config: ErpConfigBase, secrets: Mapping[str, str], policy: RetryPolicy | None = None
) -> ErpConnector:
    return erp_entry(config.kind).factory(config, secrets, policy)


def make_store(
    config: StoreConfig, token: str, policy: RetryPolicy | None = None
) -> StoreConnector:
    return _store().factory(config, token, policy)
