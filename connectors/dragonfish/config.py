"""Dragonfish settings: the vendor page's fields plus the details marked *assumed* in
shared/specs/erp-apis.md, kept here so that they can be corrected without touching the
engine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from bridge.config import ErpConfigBase, check_url
from bridge.fields import FieldSpec
from bridge.paging import MAX_PAGES

# The vendor page's fields, in its order, with its names (plus BaseDeDatos, Motivo and the
# e-commerce platform code).
UI_FIELDS = (
    FieldSpec(
        "endpoint",
        "Endpoint",
        placeholder="http://servidor:8015/api.Dragonfish/",
        required=True,
        help="URL with protocol, port and trailing slash",
    ),
    FieldSpec("cliente", "Cliente", required=True),
    FieldSpec(
        "erp.token", "Token", kind="secret", required=True, help="The JWT that ZooLogic issued"
    ),
    FieldSpec("lista", "Lista", placeholder="MAYOR $", help="Price list name"),
    FieldSpec(
        "base_de_datos",
        "BaseDeDatos",
        placeholder="ECOMMECS",
        help="Only if your installation needs it",
    ),
    FieldSpec(
        "modo_pedidos",
        "Orders as",
        kind="choice",
        choices=(
            ("operacion", "E-commerce operations (Operacionecommerce)"),
            ("pedido", "Pedidos marked in Obs"),
        ),
        help="Operations: Dragonfish makes the Pedido and refuses a repeated order; "
        "Pedidos: for installs without e-commerce operations (need a Motivo)",
    ),
    FieldSpec(
        "ecommerce",
        "E-commerce platform",
        placeholder="VENTASXMAYOR",
        help="The platform's code in Dragonfish (orders as operacion)",
    ),
    FieldSpec(
        "motivo",
        "Motivo",
        placeholder="VENTA WEB",
        help="A Motivo that exists in Dragonfish (orders as pedido)",
    ),
    FieldSpec(
        "cliente_plantilla",
        "Template customer",
        placeholder="WEB",
        help="Optional: a customer whose defaults new customers copy",
    ),
)

# Codes of Dragonfish's own tables verified on real installs (shared/specs/erp-apis.md);
# the rest differ per install: set them here or let Bridge find them by name in the
# install's SituacionFiscal / TipoDocumento tables.
VERIFIED_SITUACION_FISCAL = {
    "responsable_inscripto": "1",
    "consumidor_final": "3",
    "monotributo": "7",
}
VERIFIED_TIPO_DOCUMENTO = {"DNI": "05"}


DEFAULT_PLATFORM = "VENTASXMAYOR"


class DragonfishConfig(ErpConfigBase):
    kind: Literal["dragonfish"] = "dragonfish"
    # vendor page: Endpoint, Cliente, Token (keyring: erp.token), Lista
    endpoint: str = Field(
        description="URL with protocol, port and trailing slash, e.g. "
        "http://HOST:8015/api.Dragonfish/"
    )
    cliente: str = Field(min_length=1)
    lista: str = Field(
        "", description="price-list NAME (its Nombre), e.g. 'MAYOR $'; empty: default list"
    )
    base_de_datos: str = ""
    # How orders reach Dragonfish (`bridge doctor` proposes one from the install):
    # operacion - the vendor's own path: an Operacionecommerce (platform code + the store's
    #             order number, unique in Dragonfish), from which Dragonfish makes the Pedido;
    # pedido    - a Pedido whose Obs starts with `marcador_obs`, looked up before any resend.
    modo_pedidos: Literal["operacion", "pedido"] = "operacion"
    # the code of the e-commerce platform configured in Dragonfish (operacion)
    ecommerce: str = DEFAULT_PLATFORM
    # a Motivo loaded in Dragonfish: a Pedido without a valid one is not saved (pedido)
    motivo: str = Field("", validate_default=True)
    # the marker that starts a Pedido's Obs (pedido); {numero} is the store's order number
    marcador_obs: str = "VXM:{numero}"
    vendedor: str = ""
    # Session: "auto" opens one with POST Autenticar after a 401 (once per request),
    # "siempre" before the first request too, "nunca" never.
    autenticar: Literal["auto", "siempre", "nunca"] = "auto"
    # New customers' Codigo: "dni" (a person's DNI; a company's first 10 CUIT digits),
    # "cuit10" (the first 10 digits of the CUIT; a DNI buyer's DNI), or "auto" (Dragonfish
    # assigns it). A code derived from the document makes a repeated creation harmless:
    # Dragonfish refuses a second customer with the same code.
    codigo_cliente: Literal["dni", "cuit10", "auto"] = "dni"
    # a customer whose fields in `plantilla_campos` new customers copy (optional)
    cliente_plantilla: str = ""
    plantilla_campos: list[str] = Field(
        default_factory=lambda: ["CondicionDePago", "Vendedor", "Pais", "ListaDePrecio"]
    )
    stock_field: Literal["Disponible", "Stock"] = "Disponible"
    page_size: int = Field(500, ge=1, le=5000)
    concurrency: int = Field(4, ge=1, le=16)
    # pages of one listing before it counts as endless (bridge.paging)
    max_pages: int = Field(MAX_PAGES, ge=1, le=1_000_000)
    # the store's tax conditions -> codes of the install's SituacionFiscal table; a
    # condition not listed is looked up by name in that table
    situacion_fiscal: dict[str, str] = Field(
        default_factory=lambda: dict(VERIFIED_SITUACION_FISCAL)
    )
    # "DNI" / "CUIT" -> codes of the install's TipoDocumento table; one not listed is looked
    # up by name there, else taken from the template customer; a CUIT without one is sent
    # in `Cuit` only
    tipo_documento: dict[str, str] = Field(default_factory=lambda: dict(VERIFIED_TIPO_DOCUMENTO))
    nro_documento_max: int = Field(10, ge=1, le=20)
    # -- assumed (no public source): keep configurable -------------------------------------
    listas_path: str = "ListaDePrecios/"
    motivos_path: str = "Motivo/"
    plataformas_path: str = "Ecommerce/"
    situaciones_path: str = "SituacionFiscal/"
    tipos_documento_path: str = "TipoDocumento/"
    # words of Dragonfish's refusals
    duplicate_phrase: str = "ya existe"
    stock_phrase: str = "stock"

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return check_url(v)

    @field_validator("ecommerce")
    @classmethod
    def _platform(cls, v: str) -> str:
        # an empty field in the settings form keeps the default code
        return v.strip() or DEFAULT_PLATFORM

    @field_validator("marcador_obs")
    @classmethod
    def _marker(cls, v: str) -> str:
        v = v.strip()
        if "{numero}" not in v or v.startswith("{numero}") or " " in v:
            raise ValueError(
                "must contain {numero} after a prefix, without spaces (e.g. VXM:{numero})"
            )
        try:
            v.format(numero="1")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {numero} may stand between braces") from None
        return v

    @field_validator("situacion_fiscal")
    @classmethod
    def _conditions(cls, v: dict[str, str]) -> dict[str, str]:
        known = {"responsable_inscripto", "monotributo", "exento", "consumidor_final"}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown tax conditions {unknown}; known: {sorted(known)}")
        # over the verified codes: setting one condition keeps the others
        return {
            **VERIFIED_SITUACION_FISCAL,
            **{k: str(c).strip() for k, c in v.items() if str(c).strip()},
        }

    @field_validator("tipo_documento")
    @classmethod
    def _documents(cls, v: dict[str, str]) -> dict[str, str]:
        v = {k.upper(): str(c).strip() for k, c in v.items() if str(c).strip()}
        unknown = sorted(set(v) - {"DNI", "CUIT"})
        if unknown:
            raise ValueError(f"unknown document kinds {unknown}; known: DNI, CUIT")
        return {**VERIFIED_TIPO_DOCUMENTO, **v}

    @field_validator("motivo")
    @classmethod
    def _motivo(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("modo_pedidos") == "pedido" and not v.strip():
            raise ValueError("orders as 'pedido' need a Motivo loaded in Dragonfish")
        return v.strip()


# every secret this connector uses: keyring name -> label
SECRETS = {"erp.token": "ERP token"}
