"""Domain types and the interfaces the engine needs from connectors.

The engine depends on these interfaces only; each ERP and the store implement them in
`connectors/`, and `bridge.registry` maps an `erp.kind` to its connector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from bridge.fiscal import Document, TaxCondition

if TYPE_CHECKING:
    import httpx

    from bridge.errors import BridgeError


@dataclass(frozen=True)
class Address:
    street: str = ""
    number: str = ""
    floor: str = ""
    city: str = ""
    province: str = ""
    postal_code: str = ""


@dataclass(frozen=True)
class Buyer:
    id: str
    business_name: str
    tax_id: str
    tax_condition: str
    email: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)


@dataclass(frozen=True)
class ValidBuyer:
    """A buyer whose fiscal data passed validation."""

    buyer: Buyer
    document: Document
    condition: TaxCondition


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal
    subtotal: Decimal


@dataclass(frozen=True)
class StoreOrder:
    id: str
    number: str
    confirmed_at: str
    buyer: Buyer
    items: tuple[OrderItem, ...]
    payment_terms: str = ""
    notes: str = ""
    total: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One variant as the ERP reports it, already mapped to the store's SKU."""

    sku: str
    available: Decimal  # the ERP's available quantity, may be negative
    price: Decimal | None  # None: the ERP has no price for it in the configured list


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A catalog row the ERP sent that cannot be used; reported, never silently skipped."""

    sku: str
    message: str


@dataclass(frozen=True, slots=True)
class StockPrice:
    sku: str
    stock: int | None  # None: leave the store's stock as it is
    price: str | None  # decimal string with 2 places; None: leave the store's price


@dataclass(frozen=True)
class PushResult:
    updated: int
    not_found: tuple[str, ...]


class RunStatus(StrEnum):
    """How a pipeline run ended (kept as this text in the state file's `runs` table)."""

    RUNNING = "running"  # recorded when it starts; never the status of a RunResult
    OK = "ok"
    PARTIAL = "partial"  # some items failed, or one side failed after others were done
    FAILED = "failed"
    HELD = "held"  # the catalog guard stopped it before anything was pushed
    SKIPPED = "skipped"  # not run (one is in progress, or the ERP takes no orders)
    INTERRUPTED = "interrupted"  # still running when Bridge stopped (found at the next start)


@dataclass
class RunResult:
    """What one pipeline run did, as its caller (the engine, the CLI, the UI) sees it."""

    pipeline: str
    status: RunStatus = RunStatus.OK
    items_ok: int = 0
    items_failed: int = 0
    items_seen: int = 0
    requests: int = 0
    message: str = ""
    # a failed run's error code, for the UI to say it in the merchant's words
    code: str = ""
    kind: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.pipeline}: {self.status} — {self.message}"


@dataclass(frozen=True)
class Check:
    """One line of `bridge doctor`. `ok` None is a warning (it does not fail the doctor).
    `code` and `params`, where set, let the UI say it in the merchant's language."""

    name: str
    ok: bool | None
    detail: str
    code: str = ""
    params: tuple[tuple[str, str], ...] = ()


FindingStatus = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    """One point of a calibration: a path, a field or a record of the ERP install that the
    connector relies on, checked against what that install says of itself.

    `subject` names what was checked (e.g. "Cliente.Cuit", "erp.lista"); `setting` the
    setting to change when it is wrong; `blocks_writes` stops orders and customers (reads
    go on) until a new calibration passes. `code` + `params` are for translation."""

    subject: str
    status: FindingStatus
    code: str
    message: str
    setting: str = ""
    blocks_writes: bool = False
    params: tuple[tuple[str, str], ...] = ()

    def as_check(self) -> Check:
        ok = True if self.status == "ok" else None if self.status == "warning" else False
        detail = self.message + (
            f" (setting: {self.setting})"
            if self.setting and self.status != "ok" and self.setting not in self.message
            else ""
        )
        return Check(
            self.subject,
            ok,
            detail,
            code=self.code,
            params=(*self.params, ("setting", self.setting)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "setting": self.setting,
            "blocks_writes": self.blocks_writes,
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            str(data["subject"]),
            data["status"],
            str(data["code"]),
            str(data["message"]),
            str(data.get("setting", "")),
            bool(data.get("blocks_writes")),
            tuple((str(k), str(v)) for k, v in dict(data.get("params") or {}).items()),
        )


@dataclass(frozen=True)
class Subject:
    """What an open error is about. The state file keeps it as text: `<kind>:<key>`
    ("order:<store order id>", "sku:<sku>", "run:orders", "erp:calibration") or a bare
    kind ("store", "erp", for a side as a whole); `parse` and `str` convert exactly, so the
    text in the database never changes."""

    ORDER: ClassVar[str] = "order"
    SKU: ClassVar[str] = "sku"

    kind: str
    key: str | None = None  # None: a bare kind, written without a colon

    @classmethod
    def parse(cls, text: str) -> Subject:
        kind, colon, key = text.partition(":")
        return cls(kind, key if colon else None)

    @classmethod
    def order(cls, store_order_id: str) -> Subject:
        return cls(cls.ORDER, store_order_id)

    @classmethod
    def sku(cls, sku: str) -> Subject:
        return cls(cls.SKU, sku)

    @property
    def order_id(self) -> str | None:
        """The store order's id when this is an order, else None."""
        return self.key if self.kind == self.ORDER and self.key is not None else None

    @property
    def sku_code(self) -> str | None:
        """The product's SKU when this is a product, else None."""
        return self.key if self.kind == self.SKU and self.key is not None else None

    def __str__(self) -> str:
        return self.kind if self.key is None else f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class Capabilities:
    orders: bool = True
    # customers are a separate entity to find or create before the order (else the order
    # carries the buyer inline)
    customers: bool = True
    incremental_catalog: bool = False  # the ERP can list only what changed since a date
    sku_lookup: bool = False
    # writes the ERP tolerates at once (Dragonfish answers 409 to concurrent writes)
    write_concurrency: int = 1
    # why orders are off, for people (when `orders` is False)
    no_orders_reason: str = ""


class ErpConnector(Protocol):
    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    requests: int

    async def aclose(self) -> None: ...

    async def checks(self) -> list[Check]: ...

    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        """The ERP's code for this buyer (by document, then e-mail), or None."""

    async def create_customer(self, buyer: ValidBuyer) -> str: ...

    async def find_order(self, order: StoreOrder) -> str | None:
        """The ERP's reference of the order created for this store order, or None."""

    async def create_order(self, order: StoreOrder, customer_code: str, buyer: ValidBuyer) -> str:
        """Create the order; return the ERP's reference. `customer_code` is the ERP's code
        for the buyer where capabilities.customers (else ""; the connector sends the buyer
        inline). Raises DuplicateError when the ERP already has an order for this store
        order."""

    def catalog(self, since: float | None = None) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        """Page by page, the ERP's stock and price of every variant; with `since` (a POSIX
        time, only where capabilities.incremental_catalog), only those changed since then."""

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        """One variant by its store SKU (where capabilities.sku_lookup), or None."""


@runtime_checkable
class Calibrating(Protocol):
    """An ERP connector that can check the install it talks to (its self-description and
    its own records) against what the connector will send."""

    async def calibrate(self) -> list[Finding]: ...


class SideHealth(Protocol):
    """Where a pipeline says whether each side ("erp", "store") answered (the engine's
    Health, shown as the connections' state)."""

    def ok(self, side: str) -> None: ...

    def failed(self, side: str, exc: BridgeError) -> None: ...


@runtime_checkable
class Watching(Protocol):
    """An ERP source that can tell when it has something new (an import folder): the
    engine runs the catalog when it calls; the scheduled runs remain the rescan."""

    def watch(self, on_change: Callable[[], None]) -> None:
        """Call `on_change` (on the event loop) when something new is there."""


@runtime_checkable
class CatalogConsumer(Protocol):
    """An ERP source that consumes what it listed (an import folder archives its file)."""

    async def catalog_done(self, ok: bool) -> None:
        """The catalog run that read the last listing ended: `ok` when what it listed was
        pushed (consume it), else not (keep it for the next run)."""


@runtime_checkable
class OverHttp(Protocol):
    """A connector reached over HTTP (the store, most ERPs): its pooled client, which
    says where it talks to (`base_url`)."""

    client: httpx.AsyncClient


@runtime_checkable
class KeyedCustomers(Protocol):
    """An ERP connector that chooses the ERP's code of a new customer itself (derived from
    the buyer's document): the ERP refuses a second customer with that code, so creating
    one again after a lost reply is harmless and needs no waiting."""

    def customer_key(self, buyer: ValidBuyer) -> str | None:
        """The code a new customer for this buyer gets, or None when the ERP assigns it."""


@runtime_checkable
class OrderKeys(Protocol):
    """An ERP connector that says whether the ERP itself refuses a second order for the
    same store order (a unique external number). Connectors without this hook are taken to
    say yes."""

    def orders_keyed(self) -> bool:
        """True when the ERP refuses a repeated order; False when only Bridge's own lookup
        (find_order) stands between a lost reply and a second order."""


class StoreConnector(Protocol):
    requests: int

    async def aclose(self) -> None: ...

    async def checks(self) -> list[Check]: ...

    def pending_orders(self) -> AsyncIterator[list[Mapping[str, Any]]]: ...

    def products(self) -> AsyncIterator[list[Mapping[str, Any]]]: ...

    def parse_order(self, raw: Mapping[str, Any]) -> StoreOrder: ...

    async def report_sent(self, order_id: str, erp_reference: str) -> None: ...

    async def report_failed(self, order_id: str, message: str) -> None: ...

    async def push_stock_prices(self, items: list[StockPrice]) -> PushResult: ...
