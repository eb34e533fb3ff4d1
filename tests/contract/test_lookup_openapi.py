"""The lookup's OpenAPI document says what a serial number is (D1), and says it exactly: every
SN its pattern admits is looked up, everything else is refused as not a serial number. It says
what an insurer's bordereau takes (an insurer of the catalogue, a month) and gives (JSON, CSV)."""

from __future__ import annotations

from typing import Any

import pytest
import regress
from hypothesis import given
from hypothesis import strategies as st

from contracts.serials import SERIAL_PATTERN, InvalidSerialNumberError, normalise_serial
from services.lookup.api import create_api
from services.lookup.domain_bordereau import MONTH_PATTERN, InvalidMonthError, month_bounds
from shared.catalogue.agricultural import agricultural_catalogue

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


def bordereau_operation() -> dict[str, Any]:
    document = create_api(lambda: None).openapi()  # type: ignore[arg-type, return-value]
    operation: dict[str, Any] = document["paths"]["/insurers/{insurer}/bordereaux/{month}"]["get"]
    return operation


def test_the_bordereau_names_the_catalogues_insurers_and_a_month_and_exports_json_and_csv() -> None:
    operation = bordereau_operation()
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["insurer"]["schema"]["enum"] == sorted(agricultural_catalogue().insurers)
    assert parameters["month"]["schema"]["pattern"] == MONTH_PATTERN
    assert parameters["format"]["in"] == "query"
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert set(operation["responses"]) >= {"200", "404", "422"}


@given(st.text(max_size=10) | st.from_regex(r"\A[0-9]{4}-[0-9]{2}\Z"))
def test_the_month_pattern_and_the_service_agree_on_any_text(raw: str) -> None:
    try:
        month_bounds(raw)
    except InvalidMonthError:
        accepted = False
    else:
        accepted = True
    assert (regress.Regex(MONTH_PATTERN, flags="u").find(raw) is not None) == accepted, raw
