"""compose.yaml as a file: it is valid under the Compose Specification's schema (vendored in data/, these machines
have no Docker to ask), its monitoring profile holds Prometheus and Grafana, every file it mounts from the checkout
exists, and Prometheus scrapes services compose.yaml defines, on ports they listen on."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SCHEMA = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
SERVICES = COMPOSE["services"]


def test_it_is_valid_under_the_compose_specification():
    problems = [
        f"{list(error.path)}: {error.message}" for error in jsonschema.Draft7Validator(SCHEMA).iter_errors(COMPOSE)
    ]
    assert problems == []


def test_the_monitoring_profile_holds_prometheus_and_grafana_only():
    monitoring = sorted(name for name, service in SERVICES.items() if "monitoring" in service.get("profiles", []))
    assert monitoring == ["grafana", "prometheus"]
    assert all("profiles" not in SERVICES[name] for name in ("web", "worker", "llm")), "the app starts without it"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_file_a_service_mounts_from_the_checkout_exists(name):
    sources = [volume.split(":")[0] for volume in SERVICES[name].get("volumes", []) if isinstance(volume, str)]
    missing = [source for source in sources if source.startswith("./") and not (ROOT / source).exists()]
    assert missing == []


def test_prometheus_scrapes_services_compose_defines_on_their_ports():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target for job in config["scrape_configs"] for group in job["static_configs"] for target in group["targets"]
    ]
    assert targets, "Prometheus scrapes something"
    for target in targets:
        host, port = target.split(":")
        assert host in SERVICES, target
        service = json.dumps(SERVICES[host])
        assert f"{port}" in service, f"{target}: {host} does not mention port {port}"
    token = next(job for job in config["scrape_configs"] if job["job_name"] == "genaisite")["authorization"]
    assert token["credentials_file"] == "/run/secrets/metrics_token"
    assert "metrics_token" in SERVICES["prometheus"]["secrets"]
    assert "metrics_token" in COMPOSE["secrets"]
