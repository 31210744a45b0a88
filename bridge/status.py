"""What crosses the engine's seam: plain, frozen records.

The UI, the CLI and the service read the engine through these types only (never the state
file's rows or its `State`): a status snapshot, the errors, the events of the live log, the
run history and one order or product looked up. `Status.to_json()` is what `bridge status
--json` prints and the diagnostics keep, in the shape it always had.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.catalog import HeldRun, PreviewProduct
from bridge.model import Finding, Subject
from bridge.orders import SIDE_DOWN_CODES

JsonDict = dict[str, Any]


class Overall(StrEnum):
    """The one state Bridge is in, chosen by priority (highest first; Engine.overall):

    - ATTENTION: something only the merchant can fix: a token or password rejected or
      missing (also when that kept Bridge from starting), a setting, an order's data, a
      held catalog run. Informational entries (products missing in the store, a rebuilt
      state file) never make it.
    - STOPPED: not running (stopped, or a snapshot of the state file alone).
    - PAUSED: the merchant paused it; nothing is tried, so it outranks RETRYING.
    - RETRYING: a side cannot be reached or fails for now (a connection down, a server
      error): Bridge retries by itself, nothing to do.
    - SYNCING: a run is in progress.
    - IDLE: all good.

    `Status.cause` says why (for every state but SYNCING and IDLE)."""

    ATTENTION = "attention"
    STOPPED = "stopped"
    PAUSED = "paused"
    RETRYING = "retrying"
    SYNCING = "syncing"
    IDLE = "idle"


# error codes that inform and ask nothing of the merchant: they never make ATTENTION
INFORMATIONAL_CODES = frozenset({"sku_unknown_in_store", "state_rebuilt"})
SIDES = ("erp", "store")
# the codes of credentials rejected or missing (one cause: "<side>:auth")
AUTH_CODES = frozenset({"auth_rejected", "secret_missing"})


def error_cause(subject: Subject, kind: str, code: str) -> str | None:
    """The root cause an open error shares with others, as `<side>:<what>` ("erp:down",
    "erp:auth", "store:down", "erp:<config code>"), or None when it is the item's own
    problem (an order's data, one product's row). Errors of one cause are shown as one
    row and said once, and clear together when the side answers again."""
    name = str(subject)
    if subject.order_id is not None:
        # an order's failures of a side are the ERP's (the store's go to the health)
        if kind == "transient" and code not in SIDE_DOWN_CODES:
            return None  # this order's own trouble (the ERP busy with it, say)
        return cause_key("erp", kind, code)
    if name in SIDES:
        return cause_key(name, kind, code)
    return None


def cause_key(side: str, kind: str, code: str) -> str | None:
    """`<side>:down` for a side that fails for now, `<side>:auth` for its credentials,
    `<side>:<code>` for a setting; None for data (each item's own)."""
    if kind == "transient":
        return f"{side}:down"
    if kind in ("auth", "config"):
        return f"{side}:auth" if code in AUTH_CODES else f"{side}:{code}"
    return None


@dataclass(frozen=True)
class Cause:
    """Why Bridge is in its state: a code (an error code such as "auth_rejected",
    "secret_missing", "unreachable", or "errors" for items to fix, "paused", "stopped"),
    the side it concerns ("erp", "store" or ""), how many items wait on it, and the
    engine's own (English, technical) words."""

    code: str
    side: str = ""
    count: int = 0
    message: str = ""

    def to_json(self) -> JsonDict:
        return {"code": self.code, "side": self.side, "count": self.count, "message": self.message}


@dataclass(frozen=True)
class RunRecord:
    """One run of a pipeline, as the state file keeps it."""

    id: int
    pipeline: str
    trigger: str
    started_at: float
    finished_at: float | None
    status: str
    items_ok: int
    items_failed: int
    items_seen: int
    requests: int
    message: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        return cls(
            int(row["id"]),
            str(row["pipeline"]),
            str(row["trigger"]),
            float(row["started_at"]),
            None if row["finished_at"] is None else float(row["finished_at"]),
            str(row["status"]),
            int(row["items_ok"]),
            int(row["items_failed"]),
            int(row["items_seen"]),
            int(row["requests"]),
            str(row["message"] or ""),
        )

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else max(0.0, self.finished_at - self.started_at)

    def to_json(self) -> JsonDict:
        """The fields `bridge status` shows of a last run."""
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "items_ok": self.items_ok,
            "items_failed": self.items_failed,
            "items_seen": self.items_seen,
            "requests": self.requests,
            "message": self.message,
        }


@dataclass(frozen=True)
class ErrorRecord:
    """An error the merchant may have to act on. For the UI, an open error also carries
    what the calibration found (`findings`, for calibration_blocking) and the catalog run
    the guard holds (`held`, for catalog_held)."""

    id: int
    pipeline: str
    subject: Subject
    kind: str
    code: str
    message: str
    count: int
    first_at: float
    last_at: float
    state: str = "open"
    server_message: str | None = None
    resolution: str | None = None
    number: str | None = None  # the store's order number, for an order's error
    cause: str | None = None  # the root cause it shares with others (error_cause)
    findings: tuple[Finding, ...] = ()
    held: HeldRun | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ErrorRecord:
        number = row.get("number")
        subject = Subject.parse(str(row["subject"]))
        return cls(
            id=int(row["id"]),
            pipeline=str(row["pipeline"]),
            subject=subject,
            kind=str(row["kind"]),
            code=str(row["code"]),
            message=str(row["message"]),
            count=int(row["count"]),
            first_at=float(row["first_at"]),
            last_at=float(row["last_at"]),
            state=str(row["state"]),
            server_message=row["server_message"],
            resolution=row["resolution"],
            number=None if number is None else str(number),
            cause=error_cause(subject, str(row["kind"]), str(row["code"])),
        )

    def to_json(self) -> JsonDict:
        """The fields `bridge status` shows of an open error."""
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "subject": str(self.subject),
            "kind": self.kind,
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "last_at": self.last_at,
        }


@dataclass(frozen=True)
class EventRecord:
    """One line of the event log, as kept in the state file."""

    id: int
    ts: float
    level: str
    pipeline: str
    code: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EventRecord:
        raw = row["data"]
        data = json.loads(raw) if raw else {}
        return cls(
            int(row["id"]),
            float(row["ts"]),
            str(row["level"]),
            str(row["pipeline"]),
            str(row["code"]),
            str(row["message"]),
            data if isinstance(data, dict) else {},
        )


@dataclass(frozen=True)
class History:
    """The recent runs (newest first) and the orders created in the ERP per day (oldest
    first, days with none included)."""

    runs: tuple[RunRecord, ...]
    orders_per_day: tuple[tuple[str, int], ...]
    # errors that appeared and products the catalog updated, per day, on the same days
    errors_per_day: tuple[tuple[str, int], ...] = ()
    stock_updates_per_day: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Today:
    """Today so far (local day): the orders taken in, how many of them have a problem, and
    the last catalog run that updated the store (when, how many products)."""

    orders: int
    orders_with_errors: int
    last_stock_update_at: float | None
    last_stock_update_items: int


@dataclass(frozen=True)
class OrderItemRecord:
    """One line of a store order (amounts as the store sent them)."""

    sku: str
    name: str
    quantity: str
    unit_price: str
    subtotal: str


@dataclass(frozen=True)
class OrderRecord:
    """A store order as Bridge keeps it (its outbox entry), with the buyer and items the
    store sent and, for the detail, every event about it (oldest first)."""

    store_order_id: str
    number: str
    state: str
    erp_reference: str | None
    attempts: int
    failure_kind: str | None
    last_error: str | None
    next_attempt_at: float | None
    late: bool
    buyer_name: str = ""
    tax_id: str = ""
    tax_condition: str = ""
    items: tuple[OrderItemRecord, ...] = ()
    total: str = ""
    created_at: float | None = None
    error_code: str | None = None
    server_message: str | None = None  # the ERP's own words about the last failure
    discard_reason: str | None = None
    timeline: tuple[EventRecord, ...] = ()


@dataclass(frozen=True)
class OrderSummary:
    """A store order as a search lists it."""

    store_order_id: str
    number: str
    state: str
    created_at: float
    buyer_name: str
    tax_id: str
    total: str
    erp_reference: str | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OrderSummary:
        return cls(
            str(row["store_order_id"]),
            str(row["number"]),
            str(row["state"]),
            float(row["created_at"]),
            str(row["buyer"] or ""),
            str(row["tax_id"] or ""),
            "" if row["total"] is None else str(row["total"]),
            row["erp_reference"],
            row["last_error"],
        )


@dataclass(frozen=True)
class SearchResult:
    """What a search of the whole history found: the orders (newest first) and the
    events whose text has it (newest first)."""

    text: str
    orders: tuple[OrderSummary, ...]
    events: tuple[EventRecord, ...]


@dataclass(frozen=True)
class ProductRecord:
    """What Bridge last pushed for one SKU (stock and price None when it never was: a
    product whose row failed) and its open error, if any."""

    sku: str
    stock: int | None
    price: str | None
    known_in_store: bool
    pushed_at: float | None = None
    error: str | None = None
    error_at: float | None = None
    error_code: str | None = None  # what the UI explains in the merchant's words
    error_kind: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ProductRecord:
        return cls(
            str(row["sku"]),
            None if row["stock"] is None else int(row["stock"]),
            None if row["price"] is None else str(row["price"]),
            bool(row["known"]) if row["known"] is not None else True,
            row["pushed_at"],
            row["error"],
            row["error_at"],
            row["error_code"],
            row["error_kind"],
        )


@dataclass(frozen=True)
class OrdersStatus:
    counts: Mapping[str, int]
    pending: int
    last_run: RunRecord | None


@dataclass(frozen=True)
class CatalogStatus:
    last_run: RunRecord | None
    last_ok_at: float | None
    items_pushed: int
    skus: int
    unknown_in_store: int


@dataclass(frozen=True)
class ErrorsStatus:
    open: int
    by_kind: Mapping[str, int]
    recent: tuple[ErrorRecord, ...]
    # open errors per root cause (error_cause), and how many of the others ask the
    # merchant to act (not transient, not informational)
    by_cause: Mapping[str, int] = field(default_factory=dict)
    to_fix: int = 0
    # orders held by a problem of their own (a wrong CUIT…), not by a side's cause
    own_orders: int = 0


@dataclass(frozen=True)
class SideStatus:
    ok: bool | None  # None: not contacted yet
    message: str = ""
    since: float = 0.0
    kind: str = ""  # of the failure, when not ok ("transient", "auth", …)
    code: str = ""  # the error's code, for the UI to say it in the merchant's language


@dataclass(frozen=True)
class LiveStatus:
    """What only a running engine knows (not the state file)."""

    state: Overall
    paused: bool
    orders_enabled: bool
    orders_disabled_reason: str
    orders: bool
    sku_lookup: bool
    incremental_catalog: bool
    running: Mapping[str, bool]
    connections: Mapping[str, SideStatus]
    # when each pipeline runs next (POSIX time; None: not scheduled); absent (None) when
    # the engine schedules nothing (a one-shot command)
    next_run: Mapping[str, float | None] | None = None
    cause: Cause | None = None  # why the state (None: syncing or all good)
    paused_until: float | None = None  # a pause's end (POSIX time); None: until resumed


@dataclass(frozen=True)
class Status:
    """A snapshot: one overall state by priority, counts, last runs, connections. From
    the state file alone (`status_snapshot`) `live` is None."""

    orders: OrdersStatus
    catalog: CatalogStatus
    errors: ErrorsStatus
    customers_mapped: int
    live: LiveStatus | None = None

    @property
    def state(self) -> Overall:
        return self.live.state if self.live is not None else Overall.STOPPED

    @property
    def cause(self) -> Cause | None:
        if self.live is None:
            return Cause("stopped")
        return self.live.cause

    @property
    def paused(self) -> bool:
        return self.live is not None and self.live.paused

    @property
    def orders_enabled(self) -> bool:
        return self.live is None or self.live.orders_enabled

    def running(self, pipeline: str) -> bool:
        return self.live is not None and bool(self.live.running.get(pipeline))

    def next_run(self, pipeline: str) -> float | None:
        if self.live is None or self.live.next_run is None:
            return None
        return self.live.next_run.get(pipeline)

    def connection(self, side: str) -> SideStatus:
        if self.live is None:
            return SideStatus(None)
        return self.live.connections.get(side, SideStatus(None))

    def to_json(self) -> JsonDict:
        """The snapshot as `bridge status --json` prints it."""
        orders: JsonDict = {
            "counts": dict(self.orders.counts),
            "pending": self.orders.pending,
            "last_run": _run_json(self.orders.last_run),
        }
        catalog: JsonDict = {
            "last_run": _run_json(self.catalog.last_run),
            "last_ok_at": self.catalog.last_ok_at,
            "items_pushed": self.catalog.items_pushed,
            "skus": self.catalog.skus,
            "unknown_in_store": self.catalog.unknown_in_store,
        }
        out: JsonDict = {
            "orders": orders,
            "catalog": catalog,
            "errors": {
                "open": self.errors.open,
                "by_kind": dict(self.errors.by_kind),
                "recent": [e.to_json() for e in self.errors.recent],
            },
            "customers_mapped": self.customers_mapped,
        }
        live = self.live
        if live is None:
            return out
        out["state"] = live.state.value
        out["cause"] = None if live.cause is None else live.cause.to_json()
        out["paused"] = live.paused
        orders["enabled"] = live.orders_enabled
        orders["disabled_reason"] = live.orders_disabled_reason
        out["capabilities"] = {
            "orders": live.orders,
            "sku_lookup": live.sku_lookup,
            "incremental_catalog": live.incremental_catalog,
        }
        out["running"] = dict(live.running)
        out["connections"] = {
            side: {"ok": h.ok, "message": h.message, "since": h.since}
            for side, h in live.connections.items()
        }
        if live.next_run is not None:
            orders["next_run"] = live.next_run.get("orders")
            catalog["next_run"] = live.next_run.get("catalog")
        return out


def _run_json(run: RunRecord | None) -> JsonDict | None:
    return None if run is None else run.to_json()


@dataclass(frozen=True)
class PreviewOrder:
    """A confirmed store order waiting to go to the ERP."""

    number: str
    buyer: str
    items: int
    total: str


@dataclass(frozen=True)
class FirstSyncPreview:
    """What the first sync would do: the catalog's counts (`variants`, `would_change`,
    `store_products`, `unknown_in_store`, `invalid`) with a few examples, and the store's
    pending orders (the first few, and how many there are in all)."""

    counts: Mapping[str, int]
    products: tuple[PreviewProduct, ...]
    orders: tuple[PreviewOrder, ...]
    orders_total: int
