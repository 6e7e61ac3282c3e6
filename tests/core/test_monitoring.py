"""The Prometheus alert rules and the Grafana dashboard (docker/) name only metrics that /metrics
really exports, and their PromQL parses (with promtool, where it is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "docker" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "docker" / "grafana" / "clearhouse.json"
# Every metric we chart or alert on is django-prometheus's or our own.
METRIC = re.compile(r"\b(?:django|clearhouse)_[a-z0-9_]+\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
SAMPLE_SUFFIXES = ("_bucket", "_sum", "_count")


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }


def metrics_in(expression: str) -> set[str]:
    return set(METRIC.findall(QUOTED.sub('""', expression)))


def exported_metrics(client: Any) -> set[str]:
    """Family names (`# TYPE` lines: every registered metric, sampled or not) and sample names."""
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer monitoring-test-token").content.decode()
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    samples = {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}
    return families | samples


@pytest.fixture
def exported(client: Any, settings: Any) -> set[str]:
    settings.METRICS_TOKEN = "monitoring-test-token"
    assert client.get("/health/live").status_code == 200  # a request through the metrics middleware
    return exported_metrics(client)


def known(name: str, exported: set[str]) -> bool:
    return name in exported or any(name.endswith(s) and name.removesuffix(s) in exported for s in SAMPLE_SUFFIXES)


def test_the_files_are_what_prometheus_and_grafana_read():
    rules = yaml.safe_load(ALERTS.read_text())
    dashboard = json.loads(DASHBOARD.read_text())

    assert all(rule["labels"]["severity"] in {"page", "ticket"} for g in rules["groups"] for rule in g["rules"])
    assert all(rule["annotations"]["summary"] for g in rules["groups"] for rule in g["rules"])
    assert dashboard["schemaVersion"] >= 39
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert len(alert_expressions()) >= 10
    assert len(dashboard_expressions()) >= 20


@pytest.mark.parametrize(
    ("source", "expressions"),
    [("alerts.yml", alert_expressions()), ("clearhouse.json", dashboard_expressions())],
)
def test_every_metric_named_is_exported(exported, source, expressions):
    unknown = {
        f"{where}: {name}" for where, expression in expressions.items() for name in metrics_in(expression)
        if not known(name, exported)
    }  # fmt: skip
    metricless = [where for where, expression in expressions.items() if not metrics_in(expression)]

    assert unknown == set(), f"{source} names metrics /metrics does not export"
    assert metricless == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) not installed")
def test_promtool_accepts_the_rules_and_the_dashboard_queries(tmp_path):
    # The dashboard's queries, as recording rules: promtool parses each one.
    recorded = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{n}", "expr": e} for n, e in enumerate(dashboard_expressions().values())],
            }
        ]
    }  # fmt: skip
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(recorded))

    for rules in (ALERTS, tmp_path / "dashboard.yml"):
        result = subprocess.run(
            ["promtool", "check", "rules", str(rules)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
