from __future__ import annotations

from decimal import Decimal

from django import forms

from apps.core.cards import reject_card_numbers
from apps.core.money import exponent, to_minor

# Far above any payment (the API takes at most 99,999,999.99), far below a 64-bit integer.
MAX_MAJOR_AMOUNT = 10**12


class MoneyAmountField(forms.CharField):
    """Staff type amounts in major units ("12.50"); the form hands minor units to services."""

    def __init__(self, *, currency: str, **kwargs: object) -> None:
        self.currency = currency
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def clean(self, value: object) -> int | None:
        text = str(super().clean(value) or "").strip()
        if not text:
            return None
        try:
            number = Decimal(text)
            if not number.is_finite() or abs(number) >= MAX_MAJOR_AMOUNT:  # "inf", "1e999999"
                raise ValueError(text)
            amount = to_minor(number, self.currency)
        except (ArithmeticError, ValueError) as exc:  # InvalidOperation is an ArithmeticError
            raise forms.ValidationError(
                f"Enter an amount in {self.currency} with at most {exponent(self.currency)} decimals."
            ) from exc
        if amount <= 0:
            raise forms.ValidationError("The amount must be positive.")
        return amount


class AmountForm(forms.Form):
    def __init__(self, *args: object, currency: str, required: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["amount"] = MoneyAmountField(
            currency=currency, required=required, help_text=f"In {currency}; leave empty for the full amount."
        )


class RefundForm(AmountForm):
    reason = forms.CharField(
        max_length=255, widget=forms.TextInput(attrs={"size": 60}), validators=[reject_card_numbers]
    )


class DecisionForm(forms.Form):
    note = forms.CharField(
        max_length=255, required=False, widget=forms.TextInput(attrs={"size": 60}), validators=[reject_card_numbers]
    )
