"""Numbers from outside: every one is range-checked where it enters, and one bad record is a
data error of its own while its neighbours go through (orders here; each ERP's catalog rows
in tests/test_<connector>.py and tests/test_catalog.py)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from bridge import numbers
from bridge.catalog import target
from bridge.errors import DataError
from bridge.http import decode_json
from bridge.model import CatalogItem, RowProblem
from bridge.state import OrderState
from bridge.state.outbox import _reserved_items
from connectors.store.client import OrderFormatError, parse_order

# -- the checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (1, 1),
        (numbers.MAX_QUANTITY, numbers.MAX_QUANTITY),
        (Decimal("3.0"), 3),
        (Decimal("3"), 3),
    ],
)
def test_quantity_takes_whole_numbers_in_range(value, expected):
    assert numbers.quantity(value) == expected


@pytest.mark.parametrize(
    "value, said",
    [
        (10**30, "more than the 1,000,000,000 units"),
        (numbers.MAX_QUANTITY + 1, "more than"),
        (Decimal("1E+400"), "is 1E+400, more than"),
        (Decimal("1E+999999999"), "is 1E+999999999, more than"),  # never turned into an int
        pytest.param(
            -(10**5000),
            "a negative integer of about 5001 digits",  # not written out
            id="5001 digits",
        ),
        (0, "must be positive, got 0"),
        (-3, "must be positive"),
        (Decimal("-1E+999999999"), "must be positive"),
        (True, "whole number, got True"),
        (float("nan"), "whole number, got nan"),
        (float("inf"), "whole number, got inf"),
        (Decimal("NaN"), "whole number"),
        (Decimal("sNaN"), "whole number"),
        (Decimal("2.5"), "whole number, got 2.5"),
        ("3", "whole number, got '3'"),
        (None, "whole number, got None"),
    ],
)
def test_quantity_refuses_with_a_reason_and_the_value(value, said):
    with pytest.raises(numbers.NumberError) as caught:
        numbers.quantity(value)
    assert said in str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10.00", "10.00"),
        ("0", "0"),
        ("1.23456", "1.2346"),
        ("1E-999999", "0.0000"),
        (str(numbers.MAX_PRICE), str(numbers.MAX_PRICE)),
    ],
)
def test_money_keeps_its_places_and_rounds_beyond_four(value, expected):
    assert str(numbers.money(Decimal(value))) == expected


@pytest.mark.parametrize(
    "value, said",
    [
        ("1E+400", "is 1E+400, more than the 1,000,000,000,000"),
        ("NaN", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("-0", "negative (-0)"),
        ("-0.01", "negative"),
    ],
)
def test_money_refusals(value, said):
    with pytest.raises(numbers.NumberError) as caught:
        numbers.money(Decimal(value))
    assert said in str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (12, Decimal(12)),
        (Decimal("1.5"), Decimal("1.5")),
        (0.1, Decimal("0.1")),
        (" 7 ", Decimal(7)),
        ("1E+3", Decimal(1000)),
        ("-3.5", Decimal("-3.5")),
        (True, None),
        (None, None),
        (float("nan"), None),
        ("Infinity", None),
        ("abc", None),
        ("1_000", None),
        ([1], None),
        ({"a": 1}, None),
    ],
)
def test_to_decimal(value, expected):
    assert numbers.to_decimal(value) == expected


def test_shown_values_are_short():
    assert numbers.shown("x" * 1000) == "'" + "x" * 38 + "…"
    assert len(numbers.shown(Decimal("1" * 5000))) == 40
    assert numbers.shown(10**200) == "an integer of about 201 digits"


@pytest.mark.parametrize(
    "available, price, said",
    [
        (Decimal("1E+19"), None, "'Disponible' is 1E+19, beyond the ±1,000,000,000 units"),
        (Decimal("-1E+19"), None, "'Disponible' is -1E+19, beyond"),
        (Decimal(5), Decimal("1E+30"), "price is 1E+30, more than the 1,000,000,000,000"),
        (Decimal(5), Decimal("1E+400"), "price is 1E+400, more than"),
        (Decimal(5), Decimal(-1), "price is negative (-1)"),
    ],
)
def test_catalog_item_out_of_range_is_a_problem_naming_field_and_value(available, price, said):
    entry = numbers.catalog_item("A!1!M", available, price, stock_name="'Disponible'")
    assert isinstance(entry, RowProblem) and entry.sku == "A!1!M"
    assert said in entry.message


def test_catalog_item_in_range_minus_zero_is_zero():
    entry = numbers.catalog_item("A", Decimal("-0.0000"), Decimal("-0.00"))
    assert entry == CatalogItem("A", Decimal(0), Decimal(0))
    assert not entry.available.is_signed() and not entry.price.is_signed()


@pytest.mark.parametrize(
    "item",
    [
        CatalogItem("A", Decimal("1E+19"), None),
        CatalogItem("A", Decimal("NaN"), None),
        CatalogItem("A", Decimal("Infinity"), Decimal(1)),
        CatalogItem("A", Decimal(3), Decimal("1E+400")),
        CatalogItem("A", Decimal(3), Decimal("sNaN")),
        CatalogItem("A", 10**30, None),  # type: ignore[arg-type]  # a connector's mistake
        CatalogItem("A", Decimal(3), "12.50"),  # type: ignore[arg-type]
    ],
)
def test_target_refuses_an_unchecked_item_with_a_data_error(item):
    """Whatever a connector builds, target() answers or raises a DataError naming the SKU:
    before, int() of 1E+19 overflowed SQLite when staged, and 1E+400 failed the rounding to
    cents with decimal.InvalidOperation, stopping the whole catalog run."""
    with pytest.raises(DataError, match="SKU A: ") as caught:
        target(item, 0)
    assert caught.value.code == "erp_row_invalid"


def test_target_at_the_limits():
    item = CatalogItem("A", Decimal(numbers.MAX_QUANTITY), numbers.MAX_PRICE)
    assert target(item, 3) == (numbers.MAX_QUANTITY - 3, f"{numbers.MAX_PRICE}.00")


# -- the store's orders -----------------------------------------------------------------------

ORDER = {
    "id": "ord_1",
    "number": "VM-000077",
    "status": "confirmed",
    "buyer": {
        "id": "cus_1",
        "business_name": "X SA",
        "tax_id": "33-69345023-9",
        "tax_condition": "responsable_inscripto",
    },
    "items": [
        {
            "sku": "A!1!M",
            "name": "n",
            "quantity": 2,
            "unit_price": "10.00",
            "discount_pct": "0",
            "subtotal": "20.00",
        },
        {
            "sku": "B!2!L",
            "name": "m",
            "quantity": 1,
            "unit_price": "5.00",
            "discount_pct": "5.00",
            "subtotal": "4.75",
        },
    ],
    "total": "24.75",
}


def order_with(**line: object) -> dict:
    raw = json.loads(json.dumps(ORDER))
    raw["items"][1].update(line)
    return raw


@pytest.mark.parametrize(
    "line, said",
    [
        (
            {"quantity": 10**30},
            "quantity is 1000000000000000000000000000000, more than the "
            "1,000,000,000 units Bridge takes",
        ),
        ({"quantity": Decimal("1E+400")}, "quantity is 1E+400, more than"),
        ({"quantity": float("nan")}, "quantity must be a whole number, got nan"),
        ({"quantity": float("inf")}, "quantity must be a whole number, got inf"),
        ({"quantity": True}, "quantity must be a whole number, got True"),
        ({"quantity": 0}, "quantity must be positive, got 0"),
        ({"unit_price": "1E+400"}, "'unit_price' is '1E+400', not a number written as 1234.50"),
        (
            {"unit_price": Decimal("1E+400")},
            "'unit_price' is 1E+400, more than the 1,000,000,000,000 Bridge takes",
        ),
        ({"unit_price": 10**13}, "'unit_price' is 10000000000000, more than"),
        ({"unit_price": "NaN"}, "'unit_price' is 'NaN', not a number"),
        ({"unit_price": "Infinity"}, "'unit_price' is 'Infinity', not a number"),
        ({"unit_price": float("nan")}, "'unit_price' must be a decimal string, got nan"),
        ({"unit_price": "-0"}, "'unit_price' is negative (-0)"),
        ({"unit_price": "-0.00"}, "'unit_price' is negative (-0.00)"),
        ({"unit_price": True}, "'unit_price' must be a decimal string, got True"),
        ({"unit_price": "1.234,50"}, "'unit_price' is '1.234,50' with a decimal comma"),
        ({"unit_price": "1 234.50"}, "'unit_price' is '1 234.50', not a number"),
        ({"unit_price": "1_000"}, "'unit_price' is '1_000', not a number"),
        (
            {"unit_price": "1" * 500},
            "'unit_price' is 111111111111111111111111111111111111111…, more than",
        ),
        ({"discount_pct": "150"}, "'discount_pct' is 150, more than the 100 Bridge takes"),
        ({"discount_pct": "-5"}, "'discount_pct' is negative (-5)"),
        ({"subtotal": "1E+16"}, "'subtotal' is '1E+16', not a number"),
        (
            {"subtotal": Decimal("1E+16")},
            "'subtotal' is 1E+16, more than the 1,000,000,000,000,000",
        ),
    ],
)
def test_a_bad_number_names_order_line_sku_field_and_value(line, said):
    with pytest.raises(OrderFormatError) as caught:
        parse_order(order_with(**line))
    message = str(caught.value)
    assert message.startswith("order VM-000077, item 2 (SKU B!2!L): "), message
    assert said in message, message
    assert len(message) < 200


def test_the_total_is_range_checked_and_amounts_keep_their_places():
    with pytest.raises(OrderFormatError, match=r"order VM-000077: 'total' is 1E\+16, more"):
        parse_order(dict(ORDER, total=Decimal("1E+16")))
    order = parse_order(dict(ORDER, total=" 24.75 "))
    assert order.total == Decimal("24.75") and str(order.items[0].unit_price) == "10.00"
    assert order.items[1].discount_pct == Decimal("5.00")
    assert parse_order(order_with(unit_price="5.123456")).items[1].unit_price == Decimal("5.1235")


def test_a_huge_order_number_or_sku_is_cut_in_the_message():
    raw = order_with(sku="S" * 10_000, quantity=0)
    raw["number"] = "N" * 10_000
    with pytest.raises(OrderFormatError) as caught:
        parse_order(raw)
    assert len(str(caught.value)) < 200


def test_reserved_items_never_raise_and_hold_only_good_lines():
    """The outbox reads quantities from the raw payload when an order arrives: before, int()
    of 10**30 went to SQLite (OverflowError), of inf raised OverflowError, of 1e400 built a
    400-digit integer — each stopping every order of the run."""
    payload = {
        "items": [
            {"sku": "A", "quantity": 3},
            {"sku": "B", "quantity": 10**30},
            {"sku": "C", "quantity": float("inf")},
            {"sku": "D", "quantity": float("nan")},
            {"sku": "E", "quantity": Decimal("1E+400")},
            {"sku": "F", "quantity": "1e400"},
            {"sku": "G", "quantity": True},
            {"sku": "H", "quantity": "4"},
            {"sku": "I", "quantity": Decimal("2.0")},
            {"sku": "J", "quantity": -1},
            {"sku": "K", "quantity": "9" * 5000},
            {"sku": "L"},
            {"quantity": 5},
            "x",
        ]
    }
    assert _reserved_items(payload) == [("A", 3), ("H", 4), ("I", 2)]


def test_a_json_integer_too_long_for_int_is_read_as_a_decimal():
    """Python refuses int() of more than 4300 digits: before, decode_json let that
    ValueError out of a listing; now the one record that holds it is refused by the range
    checks."""
    body = b'{"data": [{"quantity": 1' + b"0" * 5000 + b'}, {"quantity": 2}]}'
    data = decode_json(httpx.Response(200, content=body), "the store")
    big, small = (row["quantity"] for row in data["data"])
    assert isinstance(big, Decimal) and small == 2
    with pytest.raises(numbers.NumberError):
        numbers.quantity(big)


# -- one bad order among good ones, end to end ---------------------------------------------


POISONS = {
    "quantity 10**30": {"quantity": 10**30},
    "quantity Infinity": {"quantity": float("inf")},
    "quantity NaN": {"quantity": float("nan")},
    "quantity '1e400'": {"quantity": "1e400"},
    "quantity true": {"quantity": True},
    "price 1E+400": {"unit_price": "1E+400"},
    "price 1E+13": {"unit_price": "10000000000000"},
    "price NaN": {"unit_price": "NaN"},
    "price -0": {"unit_price": "-0"},
}


async def test_one_bad_number_fails_its_order_only_and_none_stays_sending(engine, store_sim):
    """Before: quantity 10**30 stopped the run at ingestion (OverflowError from SQLite),
    Infinity too (int(inf)), and a price of 1E+400 raised decimal.InvalidOperation while the
    ERP's order was being built, leaving the run's orders in `sending`."""
    good = [store_sim.add_order() for _ in range(2)]
    bad = {}
    for what, change in POISONS.items():
        order = store_sim.add_order()
        order["items"][0].update(change)
        bad[what] = order
    good.append(store_sim.add_order())
    [result] = await engine.sync_now("orders")
    assert result.items_ok == len(good) and result.items_failed == len(bad), result.message
    for o in good:
        assert engine.state.outbox.get(o["id"]).state == OrderState.DONE
        assert store_sim.orders[o["id"]]["erp_status"] == "sent"
    errors = {e["subject"]: e["message"] for e in engine.state.errors.recent()}
    for what, o in bad.items():
        row = engine.state.outbox.get(o["id"])
        assert row.state == OrderState.FAILED and row.failure_kind == "data", what
        sku = o["items"][0]["sku"]
        assert f"order {o['number']}, item 1 (SKU {sku}): " in errors[f"order:{o['id']}"], what
        assert store_sim.orders[o["id"]]["erp_status"] == "failed", what  # the store is told
    assert engine.state.outbox.counts().get("sending", 0) == 0
    # the good orders' units were held back from the stock meanwhile; the bad lines held none
    held = engine.state._db.execute("SELECT sku, quantity FROM outbox_items").fetchall()
    assert all(0 < qty <= numbers.MAX_QUANTITY for _, qty in held)
