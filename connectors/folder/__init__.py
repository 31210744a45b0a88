"""Import folder connector: stock and prices from CSV files the ERP (or a person) drops
in a folder."""

from __future__ import annotations

from bridge.registry import ErpSpec
from connectors.folder import client, config

SPEC = ErpSpec(
    kind="folder",
    title="Carpeta de importación (CSV)",
    config_model=config.FolderConfig,
    capabilities=client.FolderSource.capabilities,
    factory=client.FolderSource,
    secret_labels=config.SECRETS,
    fields=config.UI_FIELDS,
)
