from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark's baseline endpoints (/api/v1/bench/...). Installed in the bench and test
    settings only: production neither migrates nor routes them."""

    name = "apps.bench"
    label = "bench"
    verbose_name = "Benchmark baselines"
