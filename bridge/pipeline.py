"""What the two pipelines (orders, catalog) share: the state file, the event log, the two
sides' connectors, the sync settings, the run recorder, and where each says whether a side
answered (the engine's Health, shown as the connections' state)."""

from __future__ import annotations

from bridge.config import SyncConfig
from bridge.errors import BridgeError
from bridge.events import EventBus
from bridge.model import ErpConnector, SideHealth, StoreConnector
from bridge.recorder import RunRecorder
from bridge.state import State


class Pipeline:
    def __init__(
        self,
        state: State,
        events: EventBus,
        store: StoreConnector,
        erp: ErpConnector,
        sync: SyncConfig,
        health: SideHealth | None = None,
    ) -> None:
        self.state = state
        self.recorder = RunRecorder(state, events)
        self.events = events
        self.store = store
        self.erp = erp
        self.sync = sync
        self.health = health

    def _health(self, side: str, exc: BridgeError | None = None) -> None:
        """`side` ("erp", "store") answered (`exc` None) or failed with `exc`."""
        if self.health is None:
            return
        if exc is None:
            self.health.ok(side)
        else:
            self.health.failed(side, exc)
