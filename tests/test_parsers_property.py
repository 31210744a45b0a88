"""Property-based tests: whatever a side sends, the parsers answer with a value or a clear,
specific error — never a crash, never a silent skip."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import numbers
from bridge.catalog import target
from bridge.errors import ProtocolError
from bridge.http import decode_json
from bridge.model import CatalogItem, RowProblem
from connectors.acqua.client import AcquaClient
from connectors.acqua.config import AcquaConfig
from connectors.dragonfish.client import (
    CATALOG_SHAPE,
    PRICED_SHAPE,
    CatalogPage,
    DragonfishClient,
    catalog_page,
)
from connectors.dragonfish.config import DragonfishConfig
from connectors.kit import parse_text_number
from connectors.store.client import OrderFormatError, parse_order

# numbers as other systems send them wrong: huge, not finite, -0, with separators
odd_numbers = (
    st.sampled_from(
        [
            "1E+400",
            "-1E+400",
            "NaN",
            "Infinity",
            "-0",
            "-0.00",
            "1_000",
            "1.234,50",
            "1 234.50",
            " 12.50 ",
            "1e19",
            "0.0001",
            "9" * 60,
        ]
    )
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        [
            10**30,
            -(10**30),
            2**63,
            Decimal("1E+400"),
            Decimal("-0"),
            Decimal("1E+999999999"),
            float("inf"),
        ]
    )
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | odd_numbers,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)

GOOD_ORDER = {
    "id": "ord_1",
    "number": "VM-1",
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
        }
    ],
    "total": "20.00",
}

_client = DragonfishClient(DragonfishConfig(endpoint="http://x/", cliente="C", motivo="M"), "t")
_acquas = [
    AcquaClient(AcquaConfig(instance="I", username="u", discount_mode=mode), {"erp.password": "p"})
    for mode in ("percent", "amount")
]


@given(json_values)
def test_parse_order_never_crashes_on_junk(value):
    try:
        order = parse_order(value)
    except OrderFormatError as exc:
        assert str(exc)
    else:
        assert order.id and order.items


@settings(max_examples=300)
@given(st.sampled_from(["id", "number", "buyer", "items", "total", "status"]), json_values)
def test_parse_order_field_replaced_by_junk(field, junk):
    raw = json.loads(json.dumps(GOOD_ORDER))
    raw[field] = junk
    try:
        order = parse_order(raw)
    except OrderFormatError as exc:
        # the message says which order and what is wrong
        assert "order" in str(exc).lower()
    else:
        assert order.number and all(i.quantity > 0 for i in order.items)


@settings(max_examples=300)
@given(st.sampled_from(["quantity", "unit_price", "discount_pct", "sku", "subtotal"]), json_values)
def test_parse_order_item_field_junk(field, junk):
    raw = json.loads(json.dumps(GOOD_ORDER))
    raw["items"][0][field] = junk
    try:
        order = parse_order(raw)
    except OrderFormatError as exc:
        assert "item 1" in str(exc)
    else:
        item = order.items[0]
        assert 0 < item.quantity <= numbers.MAX_QUANTITY
        assert item.unit_price.is_finite() and 0 <= item.unit_price <= numbers.MAX_PRICE
        assert 0 <= item.discount_pct <= 100


amounts = st.decimals(min_value=0, max_value=numbers.MAX_PRICE, places=6)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.integers(1, numbers.MAX_QUANTITY),
            amounts,
            st.decimals(min_value=0, max_value=100, places=2),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_orders_within_the_limits_can_be_built_for_every_erp(lines):
    """Whatever parse_order lets through, the arithmetic each connector does to build the
    ERP's order holds (before: a price of 1E+400 passed parse_order and then failed a
    quantize with InvalidOperation, with the order already `sending`)."""
    raw = json.loads(json.dumps(GOOD_ORDER))
    raw["items"] = [
        {
            "sku": f"A!{n}!M",
            "name": "n",
            "quantity": q,
            "unit_price": str(p),
            "discount_pct": str(d),
            "subtotal": "0",
        }
        for n, (q, p, d) in enumerate(lines)
    ]
    order = parse_order(raw)
    body = _client.operation_body(order, "C1", None)
    assert len(body["PublicacionDetalle"]) == len(lines) and body["Total"] >= 0
    for acqua in _acquas:
        assert len(acqua.order_body(order, "C1")["items"]) == len(lines)


@given(json_values, json_values)
def test_any_catalog_numbers_make_an_item_the_engine_takes_or_a_problem(stock, price):
    """What a connector builds from any pair of values (through the shared checks) is a
    RowProblem, or an item whose store figures can be computed: target() never raises."""
    available = numbers.to_decimal(stock)
    if available is None:
        return
    entry = numbers.catalog_item("S", available, numbers.to_decimal(price))
    if isinstance(entry, RowProblem):
        assert entry.sku == "S" and entry.message
        return
    for_store, price_out = target(entry, 0)
    assert 0 <= for_store <= numbers.MAX_QUANTITY
    assert price_out is None or Decimal(price_out) <= numbers.MAX_PRICE


def test_decimal_comma_price_is_named():
    raw = json.loads(json.dumps(GOOD_ORDER))
    raw["items"][0]["unit_price"] = "1234,50"
    try:
        parse_order(raw)
    except OrderFormatError as exc:
        assert "decimal comma" in str(exc) and "A!1!M" in str(exc)
    else:
        raise AssertionError("a decimal comma must not pass silently")


@given(st.binary(max_size=200), st.sampled_from(["application/json", "text/html", ""]))
def test_decode_json_answers_value_or_protocol_error(body, ctype):
    response = httpx.Response(200, content=body, headers={"content-type": ctype})
    try:
        decode_json(response, "the store")
    except ProtocolError as exc:
        assert "the store" in exc.message


@given(
    st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(
                ["Articulo", "Color", "Talle", "Disponible", "Precio", "Lista", "Precios", "Stock"]
            ),
            json_values,
            max_size=8,
        ),
    ),
    st.sampled_from([None, "LISTA1"]),
)
def test_dragonfish_row_is_item_or_problem(row, code):
    """Whatever a row holds, on the wire as Dragonfish would send it: the fast decoding or
    its generic fallback, then one item or one problem."""
    body = json.dumps({"Resultados": [row], "TotalRegistros": 1}, default=str).encode()
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    data = decode_json(response, "Dragonfish", CATALOG_SHAPE)
    if code is not None and isinstance(data, CatalogPage) and data.Resultados[0].Lista != code:
        data = decode_json(response, "Dragonfish", PRICED_SHAPE)
    [entry] = catalog_page(data).Resultados
    out = _client._row(entry, code)
    assert isinstance(out, (CatalogItem, RowProblem))
    if isinstance(out, CatalogItem):
        assert out.available.is_finite() and abs(out.available) <= numbers.MAX_QUANTITY
        assert out.price is None or (out.price.is_finite() and 0 <= out.price <= numbers.MAX_PRICE)
        target(out, 0)  # the store's figures can be computed
    else:
        assert out.message


@given(st.text(max_size=15), st.booleans())
def test_folder_numbers(text, comma):
    try:
        value = parse_text_number(text, comma)
    except ValueError:
        return
    assert isinstance(value, Decimal) and value.is_finite()
