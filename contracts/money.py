"""Money is an exact decimal amount with an ISO 4217 currency (M1)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

AMOUNT_PATTERN = r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$"
RATE_PATTERN = r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$"


def _decimal_string(pattern: str) -> Callable[[Any, ValidationInfo], Any]:
    """On the wire, only a decimal string written as `pattern` says (its JSON Schema's): a JSON
    number may have lost the cents it was meant to carry, and Decimal's own parser would also
    take '1_000', ' 5' or '1e3'. In code, a Decimal or an int is taken as it is."""
    spelt = re.compile(pattern)

    def check(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, float | bool):
            raise ValueError("money amounts must be decimal strings such as '239.00', never floats")
        if info.mode == "json" and not (isinstance(value, str) and spelt.fullmatch(value)):
            raise ValueError(f"expected a decimal string matching {pattern}, e.g. '239.00'")
        return value

    return check


Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(AMOUNT_PATTERN)),
    Field(allow_inf_nan=False, max_digits=18, decimal_places=2),
    # Published as what it must be on the wire: a decimal string, never a JSON number.
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN}),
]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class CurrencyMismatchError(ValueError):
    pass


class Money(BaseModel):
    """An exact amount in one currency; arithmetic refuses to mix currencies."""

    # Unknown fields are ignored, as everywhere in the contracts (they evolve by addition).
    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: Amount
    currency: CurrencyCode

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        return cls(amount=Decimal(amount), currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=Decimal("0.00"), currency=currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"


Rate = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(RATE_PATTERN)),
    Field(ge=0, le=1, allow_inf_nan=False, max_digits=6, decimal_places=4),
    WithJsonSchema({"type": "string", "pattern": RATE_PATTERN}),
]
"""A fraction such as a deductible rate ('0.05'), exact, sent as a string like money."""
