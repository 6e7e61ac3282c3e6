from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from apps.core.cards import reject_card_numbers
from apps.core.money import exponent, to_minor


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
            amount = to_minor(Decimal(text), self.currency)
        except (InvalidOperation, ValueError) as exc:
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
