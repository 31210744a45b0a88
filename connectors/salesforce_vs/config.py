"""Salesforce Virtual Seller settings: the vendor page's fields plus the details marked
*assumed* in shared/specs/erp-apis.md (the Apex REST paths, parameter names and codes), kept
here so that they can be corrected in the config file without touching any code.

Observed (Salesforce's standard OAuth2 username-password flow): the login URL and its form
fields. Assumed: everything under `services/apexrest/vs/` and the customer codes.
"""

from __future__ import annotations

import ast
from typing import Any, Literal

from pydantic import Field, field_validator

from bridge.config import ErpConfigBase, check_url
from bridge.fields import FieldSpec
from bridge.fiscal import TaxCondition

PRODUCTION_LOGIN = "https://login.salesforce.com/"
SANDBOX_LOGIN = "https://test.salesforce.com/"

# The vendor page's fields, in its order, with its names.
UI_FIELDS = (
    FieldSpec(
        "username",
        "Username",
        placeholder="integracion@empresa.com.ar",
        required=True,
        help="The Salesforce user the integration logs in as",
    ),
    FieldSpec(
        "erp.password",
        "Password",
        kind="secret",
        required=True,
        help="The Salesforce user's password. If your org asks for a security token, "
        "type the password immediately followed by the token, with no space",
    ),
    FieldSpec(
        "client_id",
        "Client ID",
        required=True,
        help="Consumer Key of the connected app in Salesforce",
    ),
    FieldSpec(
        "erp.client_secret",
        "Client Secret",
        kind="secret",
        required=True,
        help="Consumer Secret of the connected app in Salesforce",
    ),
    FieldSpec(
        "identifier",
        "Identifier",
        placeholder="PAGINAWEB",
        required=True,
        help="Marks the origin of the orders in Virtual Seller",
    ),
    FieldSpec(
        "warehouse",
        "Warehouse",
        placeholder="DEP-CENTRAL",
        help="Only the stock of this warehouse; empty: all warehouses",
    ),
    FieldSpec(
        "companies",
        "Companies",
        placeholder="EMPRESA1, EMPRESA2",
        help="Only the stock and prices of these companies, separated by commas; empty: "
        "all companies",
    ),
)

DEFAULT_DOCUMENT_TYPES = {"CUIT": "CUIT", "DNI": "DNI"}
# the store's IVA conditions -> Virtual Seller's codes (assumed: AFIP's receiver codes)
DEFAULT_TAX_CONDITIONS = {
    TaxCondition.RESPONSABLE_INSCRIPTO.value: "1",
    TaxCondition.EXENTO.value: "4",
    TaxCondition.CONSUMIDOR_FINAL.value: "5",
    TaxCondition.MONOTRIBUTO.value: "6",
}


def split_list(value: Any) -> list[str]:
    """A list of names from a list or from text separated by commas (or semicolons, or new
    lines): the settings form gives text, the config file a list. A list that was shown as
    text (`['A', 'B']`) reads back as the list it was."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
            value = list(parsed) if isinstance(parsed, list | tuple) else text[1:-1]
        if isinstance(value, str):
            value = value.replace(";", ",").replace("\n", ",").split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of names or text separated by commas")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str | int):
            raise ValueError(f"'{item!r}' is not a name")
        name = str(item).strip().strip("'\"").strip()
        if name and name not in out:
            out.append(name)
    return out


class SalesforceVSConfig(ErpConfigBase):
    kind: Literal["salesforce_vs"] = "salesforce_vs"
    # -- vendor page: Username, Password (keyring: erp.password), Client ID, Client Secret
    #    (keyring: erp.client_secret), Identifier, Warehouse, Companies
    username: str = Field(min_length=1)
    client_id: str = Field(min_length=1, description="the connected app's Consumer Key")
    identifier: str = Field(min_length=1, description="the orders' origin, e.g. PAGINAWEB")
    warehouse: str = Field("", description="only this warehouse's stock; empty: all")
    companies: list[str] = Field(
        default_factory=list, description="only these companies; empty: all"
    )
    # -- observed: Salesforce's login server (sandboxes: https://test.salesforce.com/)
    login_url: str = PRODUCTION_LOGIN
    # -- catalog --------------------------------------------------------------------------
    page_size: int = Field(200, ge=1, le=2000)
    price_list: str = Field(
        "", description="price list code, e.g. Lista_000; empty: the server's default list"
    )
    # the row field that holds the quantity to publish (assumed: "available" = on hand minus
    # reserved; "onHand" is the physical stock)
    stock_field: str = "available"
    # -- assumed (no public source): Apex REST on the instance_url; keep configurable -----
    stock_path: str = "services/apexrest/vs/stock"
    orders_path: str = "services/apexrest/vs/orders"
    order_lookup_path: str = "services/apexrest/vs/orders"
    order_lookup_param: str = "externalId"
    page_param: str = "page"
    page_size_param: str = "pageSize"
    sku_param: str = "sku"
    warehouse_param: str = "warehouse"
    company_param: str = "company"
    price_list_param: str = "priceList"
    # several companies: `company=A&company=B` (repeat) or `company=A,B` (comma)
    companies_style: Literal["repeat", "comma"] = "repeat"
    # the field of the order-creation answer that is the order's reference (falls back to
    # "id")
    order_reference_field: str = "orderNumber"
    # Salesforce-style errorCodes that mean "an order with this externalId already exists"
    duplicate_codes: list[str] = Field(
        default_factory=lambda: ["DUPLICATE_EXTERNAL_ID", "DUPLICATE_VALUE"]
    )
    # the customer inline in the order: document type and IVA condition codes
    document_types: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DOCUMENT_TYPES))
    tax_conditions: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TAX_CONDITIONS))
    notes_max: int = Field(1000, ge=0, le=32000)

    @field_validator(
        "username",
        "client_id",
        "identifier",
        "warehouse",
        "price_list",
        "stock_field",
        "order_reference_field",
        "order_lookup_param",
    )
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @field_validator("companies", mode="before")
    @classmethod
    def _companies(cls, v: Any) -> list[str]:
        return split_list(v)

    @field_validator("duplicate_codes", mode="before")
    @classmethod
    def _codes(cls, v: Any) -> list[str]:
        return [c.upper() for c in split_list(v)]

    @field_validator("login_url")
    @classmethod
    def _login_url(cls, v: str) -> str:
        v = v.strip()
        return check_url(v if v.endswith("/") else v + "/")

    @field_validator("stock_path", "orders_path", "order_lookup_path")
    @classmethod
    def _path(cls, v: str) -> str:
        v = v.strip().lstrip("/")
        if not v or "://" in v:
            raise ValueError(
                "must be a path relative to the instance URL, e.g. services/apexrest/vs/stock"
            )
        return v

    @field_validator("document_types")
    @classmethod
    def _document_types(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - set(DEFAULT_DOCUMENT_TYPES)
        if unknown:
            raise ValueError(f"unknown document type '{sorted(unknown)[0]}' (known: CUIT, DNI)")
        return {**DEFAULT_DOCUMENT_TYPES, **v}

    @field_validator("tax_conditions")
    @classmethod
    def _tax_conditions(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - set(DEFAULT_TAX_CONDITIONS)
        if unknown:
            raise ValueError(
                f"unknown IVA condition '{sorted(unknown)[0]}' (known: "
                f"{', '.join(DEFAULT_TAX_CONDITIONS)})"
            )
        return {**DEFAULT_TAX_CONDITIONS, **v}


CONFIG = SalesforceVSConfig
# the password may need the user's security token appended (see its help in UI_FIELDS)
SECRETS = ("erp.password", "erp.client_secret")
