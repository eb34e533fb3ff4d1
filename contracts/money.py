"""Money is an exact decimal amount with an ISO 4217 currency (M1)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


def _refuse_binary_float(value: Any) -> Any:
    # A float has already lost the cents it was meant to carry: the sender must send a string.
    if isinstance(value, float):
        raise ValueError("money amounts must be decimal strings such as '239.00', never floats")
    if isinstance(value, bool):
        raise ValueError("money amounts must be decimal strings, not booleans")
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_refuse_binary_float),
    Field(allow_inf_nan=False, max_digits=18, decimal_places=2),
    # Published as what it must be on the wire: a decimal string, never a JSON number.
    WithJsonSchema({"type": "string", "pattern": r"^-?\d{1,16}(\.\d{1,2})?$"}),
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
    BeforeValidator(_refuse_binary_float),
    Field(ge=0, le=1, allow_inf_nan=False, max_digits=6, decimal_places=4),
    WithJsonSchema({"type": "string", "pattern": r"^(0(\.\d{1,4})?|1(\.0{1,4})?)$"}),
]
"""A fraction such as a deductible rate ('0.05'), exact, sent as a string like money."""
