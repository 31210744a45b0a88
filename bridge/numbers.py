"""Numbers from outside: the limits, and the checks every connector applies where a number
enters Bridge (the store's order lines, the ERPs' catalog rows).

One bad number makes one bad record: a check raises `NumberError` (or returns a problem)
that the connector turns into that record's data error (an order's `DataError`, a catalog
row's `RowProblem`), and its neighbours go through. Without these checks a quantity of
10**30 overflows SQLite's integers, and a price of 1E+400 fails the rounding to cents
(`decimal.InvalidOperation`) after the record was already on its way.

The limits are far above any real wholesale figure and far below what the arithmetic after
them can hold: a line's amount (10**12 x 10**9, with 4 decimals) has at most 26 digits,
inside the 28 of Python's decimal context, and a stock fits SQLite's 64-bit integers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bridge.model import CatalogItem, RowProblem

# units on an order line, and the ERP's quantity of a variant either way (it may be negative)
MAX_QUANTITY = 1_000_000_000
# a unit price, in the ERP or in the store
MAX_PRICE = Decimal(10) ** 12
# a line's subtotal or an order's total
MAX_AMOUNT = Decimal(10) ** 15
MAX_PERCENT = Decimal(100)
# decimals kept of an amount from the store (Dragonfish itself sends 4); more are rounded
PLACES = 4

_MAX_STOCK = Decimal(MAX_QUANTITY)
_STEP = Decimal(1).scaleb(-PLACES)
_ZERO = Decimal(0)
_SHOWN = 40


class NumberError(ValueError):
    """A number Bridge does not take. The message says why, for people, with the value
    (shortened), ready to follow the field's name: "is 1E+400, more than ..."."""


def shown(value: Any, limit: int = _SHOWN) -> str:
    """A value from outside for a message: as it came (text quoted), cut to `limit`
    characters. A huge integer is described, not written out (Python refuses to turn one
    of more than 4300 digits into text)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"a{' negative' if value < 0 else 'n'} integer of about {digits} digits"
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(value: Any, limit: int = _SHOWN) -> str:
    """A name from outside (an order number, a SKU) for a message: text as it is, cut to
    `limit` characters; anything else as `shown` writes it."""
    if not isinstance(value, str):
        return shown(value, limit)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def to_decimal(value: Any) -> Decimal | None:
    """A finite number as an exact Decimal: a JSON number (int, Decimal, float) or a
    number written as text ("12", "-3.5", " 1E+3 "); None for anything else (null, true,
    NaN, Infinity, "abc", "1_000"). The range is the caller's to check."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        return None
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))  # 0.1 is "0.1", not its binary expansion
    elif isinstance(value, str) and "_" not in value:
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def _no_minus_zero(value: Decimal) -> Decimal:
    return value if value else value.copy_abs()


def _rounded(value: Decimal) -> Decimal:
    """At most PLACES decimals (half up); a value with fewer is kept as it is (10.00 stays
    10.00); -0 is 0. Only for values already within the limits."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        value = value.quantize(_STEP, rounding=ROUND_HALF_UP)
    return _no_minus_zero(value)


def quantity(value: Any) -> int:
    """An order line's quantity: a whole number from 1 to MAX_QUANTITY (an int, or a JSON
    number such as 3.0 that is whole; never true/false)."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        # compared before int(): int(Decimal("1E+999999999")) would take forever
        if value < 1:
            raise NumberError(f"must be positive, got {shown(value)}")
        if value > _MAX_STOCK:
            raise NumberError(
                f"is {shown(value)}, more than the {MAX_QUANTITY:,} units Bridge takes"
            )
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise NumberError(f"must be a whole number, got {shown(value)}")
    if value <= 0:
        raise NumberError(f"must be positive, got {shown(value)}")
    if value > MAX_QUANTITY:
        raise NumberError(f"is {shown(value)}, more than the {MAX_QUANTITY:,} units Bridge takes")
    return value


def money(value: Decimal, maximum: Decimal = MAX_PRICE) -> Decimal:
    """An amount from the store: finite, not negative (-0 neither), at most `maximum`,
    rounded to PLACES decimals."""
    if not value.is_finite():
        raise NumberError(f"is {shown(value)}, not a finite number")
    if value.is_signed():
        raise NumberError(f"is negative ({shown(value)})")
    if value > maximum:
        raise NumberError(f"is {shown(value)}, more than the {maximum:,} Bridge takes")
    return _rounded(value)


def stock(value: Decimal) -> Decimal:
    """An ERP's quantity of a variant: finite, within ±MAX_QUANTITY (the ERP's available
    quantity may be negative)."""
    if not value.is_finite():
        raise NumberError(f"is {shown(value)}, not a finite number")
    if not -_MAX_STOCK <= value <= _MAX_STOCK:
        raise NumberError(f"is {shown(value)}, beyond the ±{MAX_QUANTITY:,} units Bridge takes")
    return _no_minus_zero(value)


def price(value: Decimal) -> Decimal:
    """An ERP's price: finite, not negative, at most MAX_PRICE (-0 is 0)."""
    if not value.is_finite():
        raise NumberError(f"is {shown(value)}, not a finite number")
    if value < 0:
        raise NumberError(f"is negative ({shown(value)})")
    if value > MAX_PRICE:
        raise NumberError(f"is {shown(value)}, more than the {MAX_PRICE:,} Bridge takes")
    return _no_minus_zero(value)


def catalog_item(
    sku: str,
    available: Decimal,
    price_: Decimal | None,
    *,
    stock_name: str = "stock",
    price_name: str = "price",
) -> CatalogItem | RowProblem:
    """The CatalogItem a connector parsed, once its numbers are within the limits; else a
    RowProblem naming the field (as the ERP names it) and the value."""
    try:
        available = stock(available)
    except NumberError as exc:
        return RowProblem(sku, f"{stock_name} {exc}")
    if price_ is not None:
        try:
            price_ = price(price_)
        except NumberError as exc:
            return RowProblem(sku, f"{price_name} {exc}")
    return CatalogItem(sku=sku, available=available, price=price_)


def _within(value: object, low: Decimal, high: Decimal) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite() and low <= value <= high
    if isinstance(value, int) and not isinstance(value, bool):
        return low <= value <= high
    return False


def item_problem(item: CatalogItem) -> str | None:
    """What is wrong with the numbers of a CatalogItem, however it was built (None: they
    are within the limits). Cheap: it runs for every variant of every catalog run."""
    if not _within(item.available, -_MAX_STOCK, _MAX_STOCK):
        return (
            f"stock is {shown(item.available)}, not a number within the ±"
            f"{MAX_QUANTITY:,} units Bridge takes"
        )
    if item.price is not None and not _within(item.price, _ZERO, MAX_PRICE):
        return (
            f"price is {shown(item.price)}, not a number from 0 to {MAX_PRICE:,} "
            "(the most Bridge takes)"
        )
    return None
