"""Dragonfish (ZooLogic) connector: its REST API, reached with a JWT token."""

from __future__ import annotations

from bridge.registry import ErpSpec
from connectors.dragonfish import client, config

SPEC = ErpSpec(
    kind="dragonfish",
    title="Dragonfish (ZooLogic)",
    config_model=config.DragonfishConfig,
    capabilities=client.DragonfishClient.capabilities,
    factory=client.DragonfishClient,
    secret_labels=config.SECRETS,
    fields=config.UI_FIELDS,
)
