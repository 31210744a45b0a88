"""Import folder: for an ERP with no API, the ERP exports stock/price CSV files into a
folder and Bridge takes them from there."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bridge.config import ErpConfigBase
from bridge.fields import FieldSpec

# Accepted header names (compared without case, accents, spaces or underscores).
DEFAULT_COLUMNS: dict[str, list[str]] = {
    "sku": ["sku", "codigo", "cod", "articulo", "codigoarticulo", "code", "item", "product"],
    "stock": [
        "stock",
        "cantidad",
        "disponible",
        "existencia",
        "saldo",
        "qty",
        "quantity",
        "available",
    ],
    "price": ["precio", "price", "preciomayorista", "preciolista", "pvp", "importe"],
}

UI_FIELDS = (
    FieldSpec(
        "path",
        "Folder",
        required=True,
        placeholder=r"C:\ERP\exportaciones",
        help="The folder where the ERP saves its stock and price files (CSV)",
    ),
    FieldSpec(
        "archive_dir",
        "Archive subfolder",
        placeholder="procesados",
        help="Processed files are moved here",
    ),
)


class FolderConfig(ErpConfigBase):
    kind: Literal["folder"] = "folder"
    path: str = Field(min_length=1)
    pattern: str = "*.csv"
    archive_dir: str = "procesados"
    rejected_dir: str = "rechazados"
    # header name overrides: {"sku": "CODIGO_ART", ...}; unset ones use DEFAULT_COLUMNS
    columns: dict[str, str] = Field(default_factory=dict)
    delimiter: Literal["auto", ";", ",", "\t", "|"] = "auto"
    encoding: Literal["auto", "utf-8", "cp1252", "latin-1"] = "auto"
    decimal: Literal["auto", "comma", "point"] = "auto"
    # a file modified less than this long ago may still be being written: wait
    settle_s: float = Field(2.0, ge=0, le=600)
    page_size: int = Field(500, ge=1, le=5000)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - set(DEFAULT_COLUMNS)
        if unknown:
            raise ValueError(
                f"unknown column role(s) {sorted(unknown)}; roles are sku, stock, price"
            )
        return v


# no secrets: files on this computer
SECRETS: dict[str, str] = {}
