"""Salesforce Virtual Seller connector: OAuth2 username-password login, stock and prices by
warehouse and companies, orders with the buyer inline (see shared/specs/erp-apis.md)."""

from __future__ import annotations

from bridge.registry import ErpSpec
from connectors.salesforce_vs import client, config

SPEC = ErpSpec(
    kind="salesforce_vs",
    title="Salesforce Virtual Seller",
    config_model=config.SalesforceVSConfig,
    capabilities=client.SalesforceVSClient.capabilities,
    factory=client.SalesforceVSClient,
    secret_labels=config.SECRETS,
    fields=config.UI_FIELDS,
    secrets_for=config.secrets_for,
)
