"""The VentasxMayor store connector (shared/specs/store-api.md)."""

from __future__ import annotations

from bridge.registry import StoreSpec
from connectors.store import client

SPEC = StoreSpec(title="VentasxMayor", factory=client.StoreClient)
