"""Serial numbers (D1): normalised before any comparison, refused when malformed."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_SERIAL = re.compile(r"^[A-Z0-9]{10,20}$")


class InvalidSerialNumberError(ValueError):
    pass


def normalise_serial(raw: str) -> str:
    """D1: trim and upper-case, then accept only 10 to 20 letters and digits."""
    candidate = raw.strip().upper()
    if not _SERIAL.fullmatch(candidate):
        raise InvalidSerialNumberError(
            f"serial number {raw[:40]!r} is not 10 to 20 letters and digits"
        )
    return candidate


def _require_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("a serial number must be a string")
    return value


SerialNumber = Annotated[str, BeforeValidator(_require_text), AfterValidator(normalise_serial)]
