"""The connectors: one package per ERP, plus the store's and a kit they share
(`connectors.kit`). Each package describes itself with a `SPEC` (`bridge.registry.ErpSpec`,
or `StoreSpec` for the store); `register()` hands them all to `bridge.registry`, which knows
no connector by itself. The program's entry point calls it once at start-up."""

from __future__ import annotations

from types import ModuleType

# the ERPs in the order they are offered (the settings' list, `bridge.registry.erp_kinds`)
ERP_PACKAGES = ("dragonfish", "acqua", "nonsistemas", "salesforce_vs", "folder")


def _packages() -> list[ModuleType]:
    from connectors import acqua, dragonfish, folder, nonsistemas, salesforce_vs, store

    erps = {
        "dragonfish": dragonfish,
        "acqua": acqua,
        "nonsistemas": nonsistemas,
        "salesforce_vs": salesforce_vs,
        "folder": folder,
    }
    return [store, *(erps[name] for name in ERP_PACKAGES)]


def register() -> None:
    """Register the store and every ERP connector with `bridge.registry` (again: the same
    specs, so calling it twice is harmless)."""
    from bridge import registry

    registry.register(*(package.SPEC for package in _packages()))


def bundled_modules() -> list[str]:
    """The connector modules a frozen build must include (bridge.spec): each package and
    its client (which imports the rest)."""
    return [m.__name__ for package in _packages() for m in (package, package.client)]
