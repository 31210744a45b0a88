"""Salesforce Virtual Seller settings: the vendor page's fields plus the details marked
*assumed* in shared/specs/erp-apis.md (the Apex REST paths, parameter names and codes), kept
here so that they can be corrected in the config file without touching any code.

Observed (Salesforce's standard OAuth2 flows): the token endpoint and its form fields.
Assumed: everything under `services/apexrest/vs/` and the customer codes.

How the connector logs in (`auth_flow`):

- `"client_credentials"`: Salesforce's replacement of the username-password flow and the
  default for new installs. `POST <my_domain_url>services/oauth2/token` with
  `grant_type=client_credentials&client_id&client_secret`; it needs the org's My Domain URL
  (`my_domain_url`, e.g. https://acme.my.salesforce.com/: login.salesforce.com and
  test.salesforce.com refuse this flow) and a Connected App or External Client App with the
  client credentials flow enabled and a "Run As" user. No user name or password: the
  keyring secret `erp.password` is not needed (see `secrets_for`).
- `"password"`: the username-password flow, for older orgs that still allow it.
  `POST <my_domain_url, or login_url when it is empty>services/oauth2/token` with
  `grant_type=password&client_id&client_secret&username&password`; needs `username` and the
  keyring secret `erp.password`.

The default when the config does not say (`auth_flow` missing or empty): `"password"` when
the config has a `username` and no `my_domain_url`, which is every config written before
client credentials existed, so that an existing install keeps logging in as it did;
`"client_credentials"` otherwise. A config saved by Bridge always names its flow.
"""

from __future__ import annotations

import ast
import ipaddress
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.config import ErpConfigBase, check_url
from bridge.fields import FieldSpec
from bridge.fiscal import TaxCondition
from bridge.paging import MAX_PAGES

PRODUCTION_LOGIN = "https://login.salesforce.com/"
SANDBOX_LOGIN = "https://test.salesforce.com/"
# Salesforce's generic login hosts: they serve the username-password flow, never client
# credentials ("request not supported on this domain")
GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")

AuthFlow = Literal["client_credentials", "password"]
CLIENT_CREDENTIALS: AuthFlow = "client_credentials"
PASSWORD: AuthFlow = "password"
# how a person may write each flow in the config file: lower case, with spaces and hyphens
# read as underscores
FLOW_ALIASES: dict[str, AuthFlow] = {
    "client_credentials": CLIENT_CREDENTIALS,
    "clientcredentials": CLIENT_CREDENTIALS,
    "password": PASSWORD,
    "username_password": PASSWORD,
    "user_password": PASSWORD,
}

# Two fields that choose how to log in (not on the vendor page: they come with Salesforce's
# retirement of the username-password flow), then the vendor page's fields, in its order,
# with its names.
UI_FIELDS = (
    FieldSpec(
        "auth_flow",
        "Authentication",
        kind="choice",
        # the first one is a new install's
        choices=(
            (CLIENT_CREDENTIALS, "Client credentials (recommended)"),
            (PASSWORD, "Username and password (older orgs)"),
        ),
        help="How Bridge logs in to Salesforce. Client credentials need the My Domain URL "
        "and an app with the client credentials flow enabled and a 'Run As' user. Username "
        "and password only work in orgs that still allow that flow, which Salesforce is "
        "retiring",
    ),
    FieldSpec(
        "my_domain_url",
        "My Domain URL",
        placeholder="https://acme.my.salesforce.com/",
        help="Your org's My Domain address (Salesforce Setup > My Domain), e.g. "
        "https://acme.my.salesforce.com/. Required for client credentials: "
        "login.salesforce.com and test.salesforce.com do not accept that flow. The password "
        "flow uses it too when it is set",
    ),
    FieldSpec(
        "username",
        "Username",
        placeholder="integracion@empresa.com.ar",
        help="Only for the password flow: the Salesforce user the integration logs in as",
    ),
    FieldSpec(
        "erp.password",
        "Password",
        kind="secret",
        help="Only for the password flow: the Salesforce user's password. If your org asks "
        "for a security token, type the password immediately followed by the token, with "
        "no space",
    ),
    FieldSpec(
        "client_id",
        "Client ID",
        required=True,
        help="Consumer Key of the Connected App or External Client App in Salesforce",
    ),
    FieldSpec(
        "erp.client_secret",
        "Client Secret",
        kind="secret",
        required=True,
        help="Consumer Secret of the Connected App or External Client App in Salesforce",
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


def default_flow(data: dict[str, Any]) -> AuthFlow:
    """The flow of a config that does not name one: the username-password flow for a config
    written before client credentials (a username and no My Domain URL), else client
    credentials."""
    username = str(data.get("username") or "").strip()
    my_domain = str(data.get("my_domain_url") or "").strip()
    return PASSWORD if username and not my_domain else CLIENT_CREDENTIALS


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _my_domain_for(host: str) -> str | None:
    """The My Domain host of a Lightning or Setup address of the same org (what a person
    copies from the browser), or None."""
    for suffix in (".lightning.force.com", ".my.salesforce-setup.com"):
        if host.endswith(suffix) and host != suffix[1:]:
            return host[: -len(suffix)] + ".my.salesforce.com"
    return None


def check_my_domain_url(value: str, flow: AuthFlow) -> str:
    """The org's My Domain URL, normalised to `https://<host>/`; empty only when the flow
    does not need it. `http://` is accepted for this computer only (a test server, the
    simulator), and there the path is kept, since a test server may play several hosts on
    one port."""
    v = value.strip()
    if not v:
        if flow == CLIENT_CREDENTIALS:
            raise ValueError(
                "required for the client credentials flow: your org's My Domain URL, e.g. "
                "https://acme.my.salesforce.com/ (Salesforce Setup > My Domain)"
            )
        return ""
    if "://" not in v:
        v = "https://" + v
    parts = urlsplit(v)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError(
            "must be your org's My Domain URL, starting with https://, e.g. "
            "https://acme.my.salesforce.com/"
        )
    if _is_loopback(host):
        return check_url(v if v.endswith("/") else v + "/")
    if parts.scheme.lower() != "https":
        raise ValueError(
            "must start with https:// (Salesforce accepts no other), e.g. "
            "https://acme.my.salesforce.com/"
        )
    if host in GENERIC_LOGIN_HOSTS and flow == CLIENT_CREDENTIALS:
        raise ValueError(
            f"{host} is Salesforce's generic login server, which does not accept the client "
            "credentials flow; use your org's My Domain URL instead, e.g. "
            "https://acme.my.salesforce.com/ (Salesforce Setup > My Domain)"
        )
    suggested = _my_domain_for(host)
    if suggested:
        raise ValueError(
            f"{host} is a browser address of the org, not its My Domain URL; use "
            f"https://{suggested}/ (Salesforce Setup > My Domain)"
        )
    # Salesforce's token endpoint is at the root of the host: a pasted browser address
    # loses its path
    port = f":{parts.port}" if parts.port and parts.port != 443 else ""
    return f"https://{host}{port}/"


class SalesforceVSConfig(ErpConfigBase):
    kind: Literal["salesforce_vs"] = "salesforce_vs"
    # -- how to log in (see the module's docstring; a missing or empty auth_flow is worked
    #    out by `default_flow`). The fields below are validated in this order: the ones
    #    after `auth_flow` see it.
    auth_flow: AuthFlow = CLIENT_CREDENTIALS
    # the org's My Domain URL, e.g. https://acme.my.salesforce.com/: required for client
    # credentials; the password flow logs in there too when it is set (else at login_url)
    my_domain_url: str = Field("", validate_default=True)
    # -- vendor page: Username (password flow only), Password (keyring: erp.password,
    #    password flow only), Client ID, Client Secret (keyring: erp.client_secret),
    #    Identifier, Warehouse, Companies
    username: str = Field("", validate_default=True)
    client_id: str = Field(min_length=1, description="the connected app's Consumer Key")
    identifier: str = Field(min_length=1, description="the orders' origin, e.g. PAGINAWEB")
    warehouse: str = Field("", description="only this warehouse's stock; empty: all")
    companies: list[str] = Field(
        default_factory=list, description="only these companies; empty: all"
    )
    # -- observed: Salesforce's login server for the password flow when my_domain_url is
    #    empty (sandboxes: https://test.salesforce.com/)
    login_url: str = PRODUCTION_LOGIN
    # -- catalog --------------------------------------------------------------------------
    page_size: int = Field(200, ge=1, le=2000)
    # pages of one listing before it counts as endless (bridge.paging)
    max_pages: int = Field(MAX_PAGES, ge=1, le=1_000_000)
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

    @model_validator(mode="before")
    @classmethod
    def _flow_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            flow = data.get("auth_flow")
            if flow is None or (isinstance(flow, str) and not flow.strip()):
                data = {**data, "auth_flow": default_flow(data)}
        return data

    @field_validator("auth_flow", mode="before")
    @classmethod
    def _flow(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        key = v.strip().lower().replace("-", "_").replace(" ", "_")
        flow = FLOW_ALIASES.get(key)
        if flow is None:
            raise ValueError(
                f"'{v.strip()}' is not a login flow; use client_credentials (recommended) or "
                "password (the username-password flow)"
            )
        return flow

    @field_validator("my_domain_url")
    @classmethod
    def _my_domain_url(cls, v: str, info: ValidationInfo) -> str:
        flow = info.data.get("auth_flow")
        if flow is None:  # auth_flow itself was refused: that is the error to show
            return v.strip()
        return check_my_domain_url(v, flow)

    @field_validator("username")
    @classmethod
    def _username(cls, v: str, info: ValidationInfo) -> str:
        v = v.strip()
        if not v and info.data.get("auth_flow") == PASSWORD:
            raise ValueError(
                "required for the password flow (erp.auth_flow = password): the Salesforce "
                "user the integration logs in as"
            )
        return v

    @field_validator(
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


# Every secret this connector may use (keyring name -> label), for the registry
# (ErpSpec.secrets). Which of them one config needs depends on its flow:
# `secrets_for(config)`. The password may need the user's security token appended (see its
# help in UI_FIELDS).
SECRETS = {"erp.password": "ERP password", "erp.client_secret": "ERP client secret"}


def secrets_for(config: ErpConfigBase) -> tuple[str, ...]:
    """The keyring secrets this config needs: client credentials need only the Client
    Secret; the username-password flow needs the user's password as well."""
    if isinstance(config, SalesforceVSConfig) and config.auth_flow == CLIENT_CREDENTIALS:
        return ("erp.client_secret",)
    return tuple(SECRETS)
