"""NonSistemas settings: the vendor page's fields (URL, Username, Password) plus every
detail marked *assumed* in shared/specs/erp-apis.md, kept here so that it can be corrected
in the config file without touching the engine or the client."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from bridge.config import ErpConfigBase, check_url
from bridge.fields import FieldSpec
from bridge.paging import MAX_PAGES

# The vendor page's fields, in its order, with its names.
UI_FIELDS = (
    FieldSpec(
        "url",
        "URL",
        placeholder="https://erp.example.com/",
        required=True,
        help="Address of the NonSistemas server, starting with http:// or https://",
    ),
    FieldSpec(
        "username", "Username", required=True, help="The NonSistemas user that Bridge signs in with"
    ),
    FieldSpec(
        "erp.password",
        "Password",
        kind="secret",
        required=True,
        help="The password of that user; Bridge uses it to sign in at the start of "
        "each sync and keeps it in the system's keyring",
    ),
)

_OFFSET = re.compile(r"^[+-](\d{2}):(\d{2})$")


class NonSistemasConfig(ErpConfigBase):
    kind: Literal["nonsistemas"] = "nonsistemas"
    # vendor page: URL, Username, Password (keyring: erp.password)
    url: str = Field(
        description="Base URL of the NonSistemas server, e.g. "
        "https://erp.example.com/ (a trailing slash is added)"
    )
    username: str = Field(min_length=1)
    page_size: int = Field(500, ge=1, le=5000)
    # stock pages fetched at once
    concurrency: int = Field(4, ge=1, le=16)
    # pages of one listing before it counts as endless (bridge.paging)
    max_pages: int = Field(MAX_PAGES, ge=1, le=1_000_000)
    # -- assumed (no public source): keep configurable -------------------------------------
    login_path: str = "api/login"
    stock_path: str = "api/stock-precios"
    # login body keys and answer keys
    login_username_key: str = "username"
    login_password_key: str = "password"
    token_key: str = "token"
    expires_key: str = "expires_in"  # seconds; missing or 0: unknown (renewed on a 401)
    auth_scheme: str = "Bearer"
    # query parameters of the stock query
    param_desde: str = "desde"
    param_page: str = "page"
    param_limit: str = "limit"
    first_page: int = Field(1, ge=0, le=1)
    # answer keys of the stock query
    items_key: str = "items"
    total_key: str = "total"
    # item keys
    field_sku: str = "sku"
    field_stock: str = "stock"
    field_precio: str = "precio"
    field_modified: str = "fechaModificacion"
    # how `desde` is written: "iso" = ISO-8601 to the second with the UTC offset
    # (2024-05-01T10:00:00-03:00, or ...Z in UTC), or a strftime pattern such as
    # "%Y-%m-%d %H:%M:%S"
    desde_format: str = "iso"
    # the time zone `desde` is written in: "local" (this computer's), "utc", or a fixed
    # offset such as "-03:00"
    desde_timezone: str = "local"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        return check_url(v if v.endswith("/") else v + "/")

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("login_path", "stock_path")
    @classmethod
    def _path(cls, v: str) -> str:
        v = v.strip().lstrip("/")
        if not v or "://" in v:
            raise ValueError("must be a path relative to the URL, e.g. api/login")
        return v

    @field_validator("desde_format")
    @classmethod
    def _desde_format(cls, v: str) -> str:
        if v != "iso" and "%" not in v:
            raise ValueError("must be 'iso' or a strftime pattern such as '%Y-%m-%d %H:%M:%S'")
        return v

    @field_validator("desde_timezone")
    @classmethod
    def _desde_timezone(cls, v: str) -> str:
        v = v.strip().lower()
        if v in ("local", "utc"):
            return v
        m = _OFFSET.match(v)
        if not m or int(m.group(1)) > 14 or int(m.group(2)) > 59:
            raise ValueError("must be 'local', 'utc' or an offset such as '-03:00'")
        return v


# every secret this connector uses: keyring name -> label
SECRETS = {"erp.password": "ERP password"}
