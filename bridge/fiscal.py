"""Argentine fiscal data: CUIT/CUIL and DNI validation, IVA conditions.

See shared/specs/fiscal.md. The rule for the document type is strict: 11 digits is a CUIT,
7 or 8 digits a DNI, anything else is invalid. We never guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

CUIT_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
PERSON_PREFIXES = ("20", "23", "24", "27")
COMPANY_PREFIXES = ("30", "33", "34")
CUIT_PREFIXES = PERSON_PREFIXES + COMPANY_PREFIXES

# AFIP document type codes
DOC_CUIT = 80
DOC_CUIL = 86
DOC_DNI = 96


class TaxCondition(StrEnum):
    """The store's names for the buyer's condition regarding IVA."""

    RESPONSABLE_INSCRIPTO = "responsable_inscripto"
    MONOTRIBUTO = "monotributo"
    EXENTO = "exento"
    CONSUMIDOR_FINAL = "consumidor_final"


# AFIP receiver codes for the store's conditions. Each ERP numbers them its own way: the
# connectors map, never assume this numbering.
AFIP_CONDITION_CODES = {
    TaxCondition.RESPONSABLE_INSCRIPTO: 1,
    TaxCondition.EXENTO: 4,
    TaxCondition.CONSUMIDOR_FINAL: 5,
    TaxCondition.MONOTRIBUTO: 6,
}

NEEDS_CUIT = (TaxCondition.RESPONSABLE_INSCRIPTO, TaxCondition.MONOTRIBUTO)


class FiscalError(ValueError):
    """Fiscal data that cannot be accepted. `str(exc)` is a message for the merchant."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Document:
    kind: str  # "CUIT" or "DNI"
    number: str  # digits only

    @property
    def afip_type(self) -> int:
        return DOC_CUIT if self.kind == "CUIT" else DOC_DNI

    @property
    def is_company(self) -> bool:
        return self.kind == "CUIT" and self.number[:2] in COMPANY_PREFIXES

    @property
    def dni(self) -> str | None:
        """The DNI inside a person's CUIT, or the DNI itself."""
        if self.kind == "DNI":
            return self.number
        if self.number[:2] in PERSON_PREFIXES:
            return self.number[2:10].lstrip("0")
        return None

    def formatted(self) -> str:
        if self.kind == "CUIT":
            n = self.number
            return f"{n[:2]}-{n[2:10]}-{n[10]}"
        return self.number


def digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def cuit_check_digit(first_ten: str) -> int | None:
    """The check digit for the first 10 digits of a CUIT, or None where none is valid (r = 10)."""
    if len(first_ten) != 10 or not first_ten.isdigit():
        raise ValueError("a CUIT check digit needs exactly 10 digits")
    total = sum(int(d) * w for d, w in zip(first_ten, CUIT_WEIGHTS, strict=True))
    r = 11 - total % 11
    if r == 11:
        return 0
    if r == 10:
        return None
    return r


def _is_filler(number: str) -> bool:
    # all zeros, or one digit repeated (1111111, 99999999): placeholders typed to get past
    # a form, not real documents
    return not number.lstrip("0") or len(set(number)) == 1


def validate_cuit(text: str) -> str:
    """Return the 11 digits of a valid CUIT/CUIL or raise FiscalError."""
    raw = (text or "").strip()
    if not re.fullmatch(r"\d{2}-?\d{8}-?\d", raw.replace(" ", "").replace(".", "")):
        raise FiscalError(f"CUIT '{raw}' is not 11 digits (XX-XXXXXXXX-X)", "cuit_format")
    number = digits(raw)
    if number[:2] not in CUIT_PREFIXES:
        raise FiscalError(
            f"CUIT '{raw}' has prefix {number[:2]}; valid prefixes are {', '.join(CUIT_PREFIXES)}",
            "cuit_prefix",
        )
    if _is_filler(number[2:10]):
        raise FiscalError(f"CUIT '{raw}' is a placeholder, not a real document", "cuit_filler")
    expected = cuit_check_digit(number[:10])
    if expected is None or expected != int(number[10]):
        raise FiscalError(f"CUIT '{raw}' has a wrong check digit", "cuit_check_digit")
    return number


def validate_dni(text: str) -> str:
    raw = (text or "").strip()
    number = digits(raw)
    if not re.fullmatch(r"[\d. ]+", raw) or len(number) not in (7, 8):
        raise FiscalError(f"DNI '{raw}' must have 7 or 8 digits", "dni_format")
    if _is_filler(number) or int(number) < 1_000_000:
        raise FiscalError(f"DNI '{raw}' is a placeholder, not a real document", "dni_filler")
    return number


def parse_document(text: str) -> Document:
    """Decide the document type from its format (11 digits: CUIT; 7-8: DNI) and validate it."""
    raw = (text or "").strip()
    if not raw:
        raise FiscalError("the buyer has no CUIT or DNI", "document_missing")
    if not re.fullmatch(r"[\d\-. ]+", raw):
        raise FiscalError(f"document '{raw}' has characters other than digits", "document_format")
    n = len(digits(raw))
    if n == 11:
        return Document("CUIT", validate_cuit(raw))
    if n in (7, 8):
        return Document("DNI", validate_dni(raw))
    raise FiscalError(
        f"document '{raw}' has {n} digits: a CUIT has 11 and a DNI 7 or 8", "document_length"
    )


def parse_tax_condition(text: str) -> TaxCondition:
    value = (text or "").strip().lower()
    try:
        return TaxCondition(value)
    except ValueError:
        allowed = ", ".join(c.value for c in TaxCondition)
        raise FiscalError(
            f"IVA condition '{text}' is unknown (expected one of: {allowed})", "tax_condition"
        ) from None


def validate_buyer_fiscal(tax_id: str, tax_condition: str) -> tuple[Document, TaxCondition]:
    """Validate a buyer's document and IVA condition together."""
    condition = parse_tax_condition(tax_condition)
    doc = parse_document(tax_id)
    if condition in NEEDS_CUIT and doc.kind != "CUIT":
        raise FiscalError(
            f"a {condition.value.replace('_', ' ')} buyer needs a CUIT, not a DNI ({doc.number})",
            "cuit_required",
        )
    return doc, condition


def make_cuit(prefix: str, dni: str) -> str:
    """Build a valid CUIT from a prefix and 8 digits (simulators and tests). Where no check
    digit exists for that prefix, AFIP's rule switches 20/27 to 23; here we signal it."""
    body = f"{prefix}{int(dni):08d}"
    check = cuit_check_digit(body)
    if check is None:
        raise ValueError(f"no valid CUIT for {prefix}-{dni}")
    return body + str(check)
