"""Dragonfish settings: the vendor page's fields plus the details marked *assumed* in
shared/specs/erp-apis.md, kept here so that they can be corrected without touching the
engine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bridge.config import ErpConfigBase, check_url
from bridge.fields import FieldSpec

# The vendor page's fields, in its order, with its names (plus BaseDeDatos and Motivo).
UI_FIELDS = (
    FieldSpec("endpoint", "Endpoint", placeholder="http://servidor:8015/api.Dragonfish/",
              required=True, help="URL with protocol, port and trailing slash"),
    FieldSpec("cliente", "Cliente", required=True),
    FieldSpec("erp.token", "Token", kind="secret", required=True,
              help="The JWT that ZooLogic issued"),
    FieldSpec("lista", "Lista", placeholder="MAYOR $", help="Price list name"),
    FieldSpec("base_de_datos", "BaseDeDatos", placeholder="ECOMMECS",
              help="Only if your installation needs it"),
    FieldSpec("motivo", "Motivo", placeholder="VENTA WEB", required=True,
              help="A Motivo that exists in Dragonfish"),
)


class DragonfishConfig(ErpConfigBase):
    kind: Literal["dragonfish"] = "dragonfish"
    # vendor page: Endpoint, Cliente, Token (keyring: erp.token), Lista
    endpoint: str = Field(description="URL with protocol, port and trailing slash, e.g. "
                                      "http://HOST:8015/api.Dragonfish/")
    cliente: str = Field(min_length=1)
    lista: str = Field("", description="price-list NAME, e.g. 'MAYOR $'; empty: default list")
    base_de_datos: str = ""
    motivo: str = Field(min_length=1, description="a Motivo loaded in Dragonfish")
    vendedor: str = ""
    # the platform name under which orders are registered (Operacionecommerce)
    ecommerce: str = "VENTASXMAYOR"
    stock_field: Literal["Disponible", "Stock"] = "Disponible"
    page_size: int = Field(500, ge=1, le=5000)
    concurrency: int = Field(4, ge=1, le=16)
    # -- assumed (no public source): keep configurable -------------------------------------
    listas_path: str = "ListaDePrecios/"
    field_cuit: str = "Cuit"
    field_tipo_documento: str = "TipoDocumento"
    field_situacion_fiscal: str = "SituacionFiscal"
    field_ecommerce: str = "Ecommerce"
    # the store's tax conditions -> Dragonfish's codes
    situacion_fiscal: dict[str, str] = Field(default_factory=lambda: {
        "responsable_inscripto": "1", "exento": "4", "consumidor_final": "5",
        "monotributo": "6"})
    tipo_documento: dict[str, str] = Field(default_factory=lambda: {"CUIT": "80", "DNI": "96"})
    nro_documento_max: int = Field(10, ge=1, le=20)
    duplicate_phrase: str = "ya existe"

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return check_url(v)


CONFIG = DragonfishConfig
SECRETS = ("erp.token",)
