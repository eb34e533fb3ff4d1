"""M1 money and D1 serial numbers."""

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from contracts.money import CurrencyMismatchError, Money
from contracts.serials import InvalidSerialNumberError, SerialNumber, normalise_serial


class _Holder(BaseModel):
    sn: SerialNumber


def test_m1_money_adds_exactly() -> None:
    total = Money.of("0.10", "USD") + Money.of("0.20", "USD")
    assert total.amount == Decimal("0.30")
    assert total.currency == "USD"


def test_m1_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(ValidationError, match="never floats"):
        Money.model_validate({"amount": 0.1, "currency": "USD"})
    with pytest.raises(CurrencyMismatchError):
        _ = Money.of("1", "USD") + Money.of("1", "PLN")
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": "1.00", "currency": "usd"})
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": "1.001", "currency": "USD"})


def test_d1_serials_are_trimmed_and_upper_cased() -> None:
    assert normalise_serial("  1ab2c3d4e5f6 ") == "1AB2C3D4E5F6"
    assert _Holder(sn=" abcdef123456").sn == "ABCDEF123456"


@pytest.mark.parametrize("raw", ["short", "X" * 21, "ABCD-EFGH-1234", "ABCDEF12345\x00", ""])
def test_d1_malformed_serials_are_refused(raw: str) -> None:
    with pytest.raises(InvalidSerialNumberError, match="10 to 20 letters and digits"):
        normalise_serial(raw)


def test_d1_a_serial_must_be_text() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        _Holder.model_validate({"sn": 12345678901})
