from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.subscriptions"
    verbose_name = "Subscriptions and billing"

    def ready(self) -> None:
        from apps.customers.services import payment_method_in_use_check_register

        from .selectors import payment_method_pays_a_live_subscription

        payment_method_in_use_check_register(payment_method_pays_a_live_subscription)
