from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from apps.ledger.selectors import ledger_check_register

        from .selectors import payments_disagreeing_with_ledger

        ledger_check_register(payments_disagreeing_with_ledger)
