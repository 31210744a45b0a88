"""Acqua connector: two-level bearer tokens, stock and prices merged by SKU, customers
and transactions (see shared/specs/erp-apis.md)."""

from __future__ import annotations

from bridge.registry import ErpSpec
from connectors.acqua import client, config

SPEC = ErpSpec(
    kind="acqua",
    title="Acqua",
    config_model=config.AcquaConfig,
    capabilities=client.AcquaClient.capabilities,
    factory=client.AcquaClient,
    secret_labels=config.SECRETS,
    fields=config.UI_FIELDS,
)
