from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make run` (seed_demo). Installed in the dev and test settings only."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
