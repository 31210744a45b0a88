"""Acqua settings: the vendor page's fields (Instance, Username, Password) plus every detail
that shared/specs/erp-apis.md marks *assumed* for Acqua (host, paths, parameter and field
names, codes), kept here so that they can be corrected in the config file without touching
the connector's logic or the engine."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from bridge.config import ErpConfigBase, check_url
from bridge.fields import FieldSpec
from bridge.fiscal import TaxCondition
from bridge.paging import MAX_PAGES

# The vendor page's fields, in its order, with its names.
UI_FIELDS = (
    FieldSpec(
        "instance",
        "Instance",
        placeholder="Beauties",
        required=True,
        help="Your Acqua instance name, as it appears in your Acqua address "
        "(letters, digits and hyphens)",
    ),
    FieldSpec("username", "Username", required=True),
    FieldSpec("erp.password", "Password", kind="secret", required=True),
)

INSTANCE_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _default_tax_conditions() -> dict[str, str]:
    # assumed: Acqua's names for the buyer's IVA condition
    return {
        "responsable_inscripto": "RESPONSABLE_INSCRIPTO",
        "monotributo": "MONOTRIBUTO",
        "exento": "EXENTO",
        "consumidor_final": "CONSUMIDOR_FINAL",
    }


class AcquaConfig(ErpConfigBase):
    kind: Literal["acqua"] = "acqua"
    # -- vendor page: Instance, Username, Password (keyring: erp.password) -------------------
    instance: str = Field(
        description="the instance name used to build the API URL, e.g. 'Beauties'"
    )
    username: str = Field(min_length=1)
    # price list for the store's prices; empty: Acqua's default list
    price_list: str = ""
    page_size: int = Field(200, ge=1, le=5000)
    concurrency: int = Field(4, ge=1, le=16)
    # pages of one listing before it counts as endless (bridge.paging)
    max_pages: int = Field(MAX_PAGES, ge=1, le=1_000_000)
    # -- assumed (no public source): keep configurable -------------------------------------
    base_url_template: str = "https://{instance}.acqua.com.ar/api/"
    public_token_path: str = "auth/public-token"
    token_path: str = "auth/token"
    stock_path: str = "products/stock"
    prices_path: str = "products/prices"
    customers_path: str = "customers"
    transactions_path: str = "transactions"
    # query parameters
    page_param: str = "page"
    limit_param: str = "limit"
    document_param: str = "document"
    external_id_param: str = "externalId"
    sku_param: str = "sku"
    price_list_param: str = "priceList"
    # list envelope {"items": [...], "total": n}
    items_key: str = "items"
    total_key: str = "total"
    # stock row: {"sku", "stock", "reserved", "available"}; price row: {"sku", "price"}
    stock_field: str = "available"
    price_field: str = "price"
    # the store's IVA conditions -> Acqua's strings
    tax_conditions: dict[str, str] = Field(default_factory=_default_tax_conditions)
    # a transaction line's discount: a percentage (0-100) or an amount for the line
    discount_mode: Literal["percent", "amount"] = "percent"
    # 409 bodies that mean "already there" (never a second order/customer), by their
    # `error` code or, failing that, a phrase in their message
    duplicate_order_code: str = "duplicate_external_id"
    duplicate_customer_code: str = "duplicate_document"
    duplicate_phrase: str = "already exists"
    # tokens are renewed this long before `expires_in` runs out (at most a quarter of
    # their lifetime); a token answer without `expires_in` is taken to last this long
    token_renew_margin_s: float = Field(30.0, ge=0, le=3600)
    token_default_lifetime_s: float = Field(300.0, gt=0, le=86400)

    @field_validator("instance")
    @classmethod
    def _instance(cls, v: str) -> str:
        v = v.strip()
        if not INSTANCE_RE.fullmatch(v):
            raise ValueError(
                "must be the Acqua instance name: letters, digits and '-' only (e.g. Beauties)"
            )
        return v

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("base_url_template")
    @classmethod
    def _template(cls, v: str) -> str:
        v = v.strip()
        if not v.endswith("/"):
            v += "/"
        try:
            url = v.format(instance="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use the placeholder {instance}") from None
        check_url(url)
        return v

    @field_validator("tax_conditions")
    @classmethod
    def _conditions(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [c.value for c in TaxCondition if not v.get(c.value)]
        if missing:
            raise ValueError(f"needs Acqua's name for: {', '.join(missing)}")
        return v

    @property
    def base_url(self) -> str:
        return self.base_url_template.format(instance=self.instance)


# every secret this connector uses: keyring name -> label
SECRETS = {"erp.password": "ERP password"}
