"""The compose files under docker/ (Docker does not run here): each loads, and what their
services run and mount exists: settings modules, management commands, Celery's app and queues,
environment variables the settings read, files, the services they depend on. The scaled topology
(compose.scale.yml) also has its migrate job first, two beats, nginx pointing at exactly its web
instances, and Prometheus scraping exactly its web instances, workers and beats."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from config.settings.base import celery_beat_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILES = ["compose.yml", "compose.scale.yml"]
# Read by libraries rather than our settings.
LIBRARY_VARIABLES = {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}


def load(name: str) -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DOCKER / name).read_text())
    return compose


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service for name, service in compose["services"].items() if service.get("image") == "clearhouse:latest"
    }


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:  # the image's CMD
        dockerfile = (DOCKER / "Dockerfile").read_text()
        (cmd,) = re.findall(r"^CMD (\[.*?\])$", dockerfile.replace("\\\n", ""), re.MULTILINE | re.DOTALL)
        return list(yaml.safe_load(cmd))
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2].split("&&")[-1])
    return list(command)


def documented_variables() -> set[str]:
    return set(re.findall(r"^(?:# )?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))


def service_role(service: dict[str, Any]) -> str:
    command = command_of(service)
    if command[0] == "gunicorn":
        return "web"
    if command[0] == "celery":
        return command[command.index("-A") + 2]
    assert command[:2] == ["python", "manage.py"], command
    return command[2]


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_what_the_services_run_exists(name):
    compose = load(name)
    services = app_services(compose)
    commands = get_commands()

    for service_name, service in services.items():
        command = command_of(service)
        environment = service["environment"]
        settings_module = environment["DJANGO_SETTINGS_MODULE"]
        assert importlib.util.find_spec(settings_module) is not None, (service_name, settings_module)
        if command[0] == "gunicorn":
            assert command[1] == "config.wsgi:application"
            assert importlib.util.find_spec("config.wsgi") is not None
        elif command[0] == "celery":
            assert command[1:4] == ["-A", "config", command[3]] and command[3] in {"worker", "beat"}, command
            if "--queues" in command:
                queues = command[command.index("--queues") + 1].split(",")
                assert sorted(queues) == sorted(settings.CELERY_QUEUE_NAMES), (service_name, queues)
            assert environment.get("DB_POOL") == "false", f"{service_name}: Celery forks after connecting"
        else:
            assert command[:2] == ["python", "manage.py"] and command[2] in commands, (service_name, command)
        unknown = set(environment) - documented_variables() - LIBRARY_VARIABLES
        assert unknown == set(), f"{service_name} sets variables no setting reads: {unknown}"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_what_the_services_mount_and_depend_on_exists(name):
    compose = load(name)

    for service_name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), (service_name, volume)
            else:
                assert source in compose["volumes"], (service_name, volume)
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"], (service_name, config)
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], (service_name, dependency)
        if "build" in service:
            assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_migrations_run_once_before_web_workers_and_beat_start(name):
    services = app_services(load(name))

    migrate = [service_name for service_name, service in services.items() if service_role(service) == "migrate"]
    others = {service_name: service for service_name, service in services.items() if service_name not in migrate}

    assert len(migrate) == 1 and services[migrate[0]]["restart"] == "no"
    assert "deploy" not in services[migrate[0]]
    assert {service_role(service) for service in others.values()} == {"web", "worker", "beat"}
    for service_name, service in others.items():
        assert service["depends_on"][migrate[0]] == {"condition": "service_completed_successfully"}, service_name


def test_the_scaled_topology_runs_two_beats_and_balances_and_scrapes_every_web_instance():
    compose = load("compose.scale.yml")
    services = app_services(compose)
    web = {service_name for service_name, service in services.items() if service_role(service) == "web"}
    beats = [service_name for service_name, service in services.items() if service_role(service) == "beat"]
    (worker,) = [service for service in services.values() if service_role(service) == "worker"]
    nginx = (DOCKER / "nginx" / "clearhouse.conf").read_text()
    prometheus = yaml.safe_load((DOCKER / "prometheus" / "prometheus.scale.yml").read_text())
    scrape, celery_scrape = prometheus["scrape_configs"]
    allowed_hosts = services[min(web)]["environment"]["ALLOWED_HOSTS"].split(",")

    assert len(web) >= 2 and worker["deploy"]["replicas"] >= 2
    # Two beats at once are safe only with the lock: RedBeat, which needs Redis.
    assert len(beats) == 2
    assert celery_beat_settings(services[beats[0]]["environment"]["REDIS_URL"])[0] == "redbeat.RedBeatScheduler"
    assert set(re.findall(r"^\s*server (\S+):8000 ", nginx, re.MULTILINE)) == web
    assert {target.removesuffix(":8000") for target in scrape["static_configs"][0]["targets"]} == web
    assert web <= set(allowed_hosts)
    assert scrape["authorization"]["credentials_file"] in {
        config["target"] for config in compose["services"]["prometheus"]["configs"]
    }
    assert celery_scrape["authorization"] == scrape["authorization"]
    # Per-host metrics: each container its own empty directory, never one shared across containers.
    for service_name, service in services.items():
        assert service["environment"]["PROMETHEUS_MULTIPROC_DIR"] in service["tmpfs"], service_name
        assert not any(volume.endswith(":/metrics") for volume in service.get("volumes", [])), service_name


def test_the_scaled_topology_scrapes_every_worker_and_beat_on_their_metrics_port():
    services = app_services(load("compose.scale.yml"))
    prometheus = yaml.safe_load((DOCKER / "prometheus" / "prometheus.scale.yml").read_text())
    (celery_scrape,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "clearhouse-celery"]
    celery = {name: service for name, service in services.items() if service_role(service) in {"worker", "beat"}}
    ports = {int(service["environment"]["WORKER_METRICS_PORT"]) for service in celery.values()}
    beats = {name for name, service in celery.items() if service_role(service) == "beat"}
    (worker,) = set(celery) - beats
    (discovered,) = celery_scrape["dns_sd_configs"]
    (port,) = ports

    assert len(beats) == 2 and celery_scrape["metrics_path"] == "/metrics"
    # Every replica of the worker service (one name, several addresses): DNS discovery, not one target.
    assert (discovered["names"], discovered["type"], discovered["port"]) == ([worker], "A", port)
    assert set(celery_scrape["static_configs"][0]["targets"]) == {f"{beat}:{port}" for beat in beats}
    assert all(str(port) in service["expose"] for service in celery.values())
    assert all("WORKER_METRICS_PORT" not in service["environment"] for name, service in services.items()
               if name not in celery)  # fmt: skip
