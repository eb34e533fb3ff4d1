"""The lookup's OpenAPI document says what a serial number is (D1), and says it exactly: every
SN its pattern admits is looked up, everything else is refused as not a serial number."""

from __future__ import annotations

import pytest
import regress
from hypothesis import given
from hypothesis import strategies as st

from contracts.serials import SERIAL_PATTERN, InvalidSerialNumberError, normalise_serial
from services.lookup.api import create_api

pytestmark = pytest.mark.contract

ECMA = regress.Regex(SERIAL_PATTERN, flags="u")


def sn_parameter() -> dict[str, object]:
    document = create_api(lambda: None).openapi()  # type: ignore[arg-type, return-value]
    parameters = document["paths"]["/plans/by-sn/{sn}"]["get"]["parameters"]
    (sn,) = [p for p in parameters if p["name"] == "sn"]
    schema: dict[str, object] = sn["schema"]
    return schema


def test_the_sn_parameter_carries_the_d1_pattern() -> None:
    assert sn_parameter()["pattern"] == SERIAL_PATTERN


def admitted(raw: str) -> bool:
    try:
        normalise_serial(raw)
    except InvalidSerialNumberError:
        return False
    return True


@given(st.from_regex(r"\A[ \t\n\r\f\v]{0,2}[A-Za-z0-9]{10,20}[ \t\n\r\f\v]{0,2}\Z"))
def test_every_sn_the_pattern_admits_is_looked_up(raw: str) -> None:
    assert ECMA.find(raw) is not None
    assert admitted(raw)


@given(st.text(max_size=30) | st.text(alphabet="abcABC019 -\t\nßı\u00a0", max_size=24))
def test_the_pattern_and_the_service_agree_on_any_text(raw: str) -> None:
    assert (ECMA.find(raw) is not None) == admitted(raw), raw
