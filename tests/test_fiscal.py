import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.fiscal import (
    FiscalError,
    TaxCondition,
    cuit_check_digit,
    make_cuit,
    parse_document,
    validate_buyer_fiscal,
    validate_cuit,
)


def test_afip_own_cuit_is_valid():
    assert validate_cuit("33-69345023-9") == "33693450239"
    doc = parse_document("33693450239")
    assert doc.kind == "CUIT" and doc.is_company and doc.dni is None


@pytest.mark.parametrize(
    "bad", ["33-69345023-8", "33-69345023", "99-69345023-9", "20-00000000-1", "2O-12345678-9"]
)
def test_bad_cuits_are_refused_with_a_reason(bad):
    with pytest.raises(FiscalError) as exc:
        parse_document(bad)
    assert bad in str(exc.value)


def test_document_type_from_length():
    assert parse_document("12.345.678").kind == "DNI"
    assert parse_document("7654321").kind == "DNI"
    for bad in ("123456", "123456789", "1234567890", ""):
        with pytest.raises(FiscalError):
            parse_document(bad)


@pytest.mark.parametrize("filler", ["0", "1111111", "99999999", "00000000"])
def test_filler_documents_are_not_real(filler):
    with pytest.raises(FiscalError):
        parse_document(filler)


def test_ri_and_monotributo_need_a_cuit():
    with pytest.raises(FiscalError) as exc:
        validate_buyer_fiscal("23456789", "responsable_inscripto")
    assert exc.value.code == "cuit_required"
    doc, cond = validate_buyer_fiscal("23456789", "consumidor_final")
    assert doc.kind == "DNI" and cond is TaxCondition.CONSUMIDOR_FINAL
    with pytest.raises(FiscalError) as exc:
        validate_buyer_fiscal("33-69345023-9", "inscripto")
    assert exc.value.code == "tax_condition"


def test_person_cuit_carries_the_dni():
    cuit = make_cuit("20", "23456789")
    assert parse_document(cuit).dni == "23456789"


@given(st.text(max_size=30))
def test_parse_document_never_crashes(text):
    try:
        doc = parse_document(text)
    except FiscalError as exc:
        assert str(exc)
    else:
        assert doc.kind in ("CUIT", "DNI") and doc.number.isdigit()


@given(
    st.sampled_from(["20", "23", "24", "27", "30", "33", "34"]),
    st.integers(min_value=1_000_000, max_value=99_999_999),
)
def test_generated_cuits_validate_and_one_digit_off_does_not(prefix, body):
    first_ten = f"{prefix}{body:08d}"
    check = cuit_check_digit(first_ten)
    if check is None:
        return
    number = first_ten + str(check)
    if len(set(f"{body:08d}")) == 1:
        return
    assert validate_cuit(number) == number
    wrong = first_ten + str((check + 1) % 10)
    with pytest.raises(FiscalError):
        validate_cuit(wrong)
