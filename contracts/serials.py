"""Serial numbers (D1): normalised before any comparison, refused when malformed."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from contracts.envelope import MAX_TEXT_LENGTH

# ASCII only, before upper-casing: "ß".upper() is "SS", and a serial must not be spelt so.
_SERIAL = re.compile(r"[A-Za-z0-9]{10,20}")
# What trimming removes: ASCII white space, which a JSON Schema pattern can say exactly.
_TRIMMED = " \t\n\r\f\v"
# D1 as a JSON Schema (ECMA-262) pattern: what normalise_serial accepts, padding included.
SERIAL_PATTERN = r"^[ \t\n\r\f\v]*[A-Za-z0-9]{10,20}[ \t\n\r\f\v]*$"


class InvalidSerialNumberError(ValueError):
    pass


def normalise_serial(raw: str) -> str:
    """D1: trim, accept only 10 to 20 letters and digits, and upper-case them."""
    candidate = raw.strip(_TRIMMED)
    if not _SERIAL.fullmatch(candidate):
        raise InvalidSerialNumberError(
            f"serial number {raw[:40]!r} is not 10 to 20 letters and digits"
        )
    return candidate.upper()


def _require_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("a serial number must be a string")
    return value


SerialNumber = Annotated[
    str,
    BeforeValidator(_require_text),
    AfterValidator(normalise_serial),
    WithJsonSchema({"type": "string", "maxLength": MAX_TEXT_LENGTH, "pattern": SERIAL_PATTERN}),
]
