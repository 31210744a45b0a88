"""Domain types and the interfaces the engine needs from connectors.

The engine depends on these interfaces only; each ERP and the store implement them in
`connectors/`, and `bridge.registry` maps an `erp.kind` to its connector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from bridge.fiscal import Document, TaxCondition


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


@dataclass(frozen=True)
class Check:
    """One line of `bridge doctor`."""

    name: str
    ok: bool
    detail: str


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

    async def create_order(self, order: StoreOrder, customer_code: str,
                           buyer: ValidBuyer) -> str:
        """Create the order; return the ERP's reference. `customer_code` is the ERP's code
        for the buyer where capabilities.customers (else ""; the connector sends the buyer
        inline). Raises DuplicateError when the ERP already has an order for this store
        order."""

    def catalog(self, since: float | None = None) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        """Page by page, the ERP's stock and price of every variant; with `since` (a POSIX
        time, only where capabilities.incremental_catalog), only those changed since then."""

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        """One variant by its store SKU (where capabilities.sku_lookup), or None."""


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
