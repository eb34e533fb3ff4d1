"""The Prometheus scrape config and alert rules shipped in infra/prometheus, checked by promtool
(Debian's `prometheus` package) and against the services' documented ports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.metrics import METRICS_PORT_OFFSETS, metrics_port
from shared.settings import ServiceSettings

pytestmark = pytest.mark.contract

PROMETHEUS = Path(__file__).resolve().parents[2] / "infra/prometheus"


def promtool(*args: str) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    done = subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_scrape_config_and_its_rules_are_valid() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in checked


def test_each_alert_fires_on_what_it_is_for_and_only_then() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts-test.yml")


def test_every_service_is_scraped_at_its_documented_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    scraped = {
        target["labels"]["service"]: target["targets"][0] for target in job["static_configs"]
    }
    base = ServiceSettings.model_fields["metrics_port_base"].default
    assert scraped == {
        service: f"127.0.0.1:{metrics_port(service, base=base, explicit=None)}"
        for service in METRICS_PORT_OFFSETS
    }


def test_every_alert_is_tested() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    tests = yaml.safe_load((PROMETHEUS / "alerts-test.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"]}
    assert alerts == tested
