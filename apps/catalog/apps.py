from django.apps import AppConfig


class CatalogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.catalog"
    verbose_name = "Catalogue and checkout"

    def ready(self) -> None:
        from apps.payments.signals import review_decision_carried

        from .services import checkout_complete_reviewed

        review_decision_carried.connect(
            checkout_complete_reviewed, dispatch_uid="catalog_checkout_complete_reviewed", weak=False
        )
