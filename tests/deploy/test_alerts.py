"""The alert rules: valid for Prometheus (`promtool check rules`), firing on the faults they name
and silent otherwise (`promtool test rules` over synthetic series), and the same in the chart and in
deploy/monitoring. promtool comes from scripts/fetch-tools.sh (CI runs it)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import MISSING_TOOL, tool

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/helm/stsmesh/files/alerts.yaml"
PROMTOOL = tool("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=MISSING_TOOL.format("promtool"))


def cases(rules: dict[str, Any]) -> dict[str, Any]:
    """promtool unit tests: a broken state (the webhook down, 10% rule errors, the certificate 7 days
    from expiry) fires its alerts; a healthy one fires none. Expected alerts carry the rules' own
    labels and annotations, as promtool compares them whole."""
    by_name = {r["alert"]: r for group in rules["groups"] for r in group["rules"]}

    def firing(name: str) -> list[dict[str, Any]]:
        rule = by_name[name]
        return [{"exp_labels": rule.get("labels", {}), "exp_annotations": rule.get("annotations", {})}]

    day = 24 * 3600
    broken = {
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="stsmesh", instance="a"}', "values": "0x20"},
            {"series": 'stsmesh_admission_requests_total{outcome="patched", code="200"}', "values": "0+90x20"},
            {"series": 'stsmesh_admission_requests_total{outcome="rule-error", code="200"}', "values": "0+10x20"},
            {"series": 'stsmesh_certificate_expiry_timestamp_seconds{instance="a"}', "values": f"{7 * day}x200"},
            {"series": 'stsmesh_cluster_view_synced{instance="a"}', "values": "1x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "15m", "alertname": "StsmeshWebhookDown", "exp_alerts": firing("StsmeshWebhookDown")},
            {"eval_time": "15m", "alertname": "StsmeshAdmissionErrors", "exp_alerts": firing("StsmeshAdmissionErrors")},
            {"eval_time": "15m", "alertname": "StsmeshClusterViewNotSynced", "exp_alerts": []},
            {"eval_time": "190m", "alertname": "StsmeshCertificateExpiresSoon",
             "exp_alerts": firing("StsmeshCertificateExpiresSoon")},
        ],
    }  # fmt: skip
    healthy = {
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="stsmesh", instance="a"}', "values": "1x20"},
            {"series": 'stsmesh_admission_requests_total{outcome="patched", code="200"}', "values": "0+100x20"},
            {"series": 'stsmesh_certificate_expiry_timestamp_seconds{instance="a"}', "values": f"{90 * day}x200"},
        ],
        "alert_rule_test": [
            {"eval_time": "15m", "alertname": "StsmeshWebhookDown", "exp_alerts": []},
            {"eval_time": "15m", "alertname": "StsmeshAdmissionErrors", "exp_alerts": []},
            {"eval_time": "190m", "alertname": "StsmeshCertificateExpiresSoon", "exp_alerts": []},
        ],
    }
    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [broken, healthy]}


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
@pytest.mark.parametrize("broken", [False, True])
def test_the_alerts_fire_on_their_faults_and_only_then(tmp_path: Path, broken: bool) -> None:
    """`broken`: the same cases against rules whose error threshold was raised past the errors'
    share — promtool must then report the missed alert (the test can fail)."""
    assert PROMTOOL is not None
    rules = ALERTS.read_text()
    if broken:
        rules = rules.replace("> 0.05", "> 0.5")
    (tmp_path / "rules.yaml").write_text(rules)
    (tmp_path / "cases.yaml").write_text(yaml.safe_dump(cases(yaml.safe_load(rules))))
    done = subprocess.run([PROMTOOL, "test", "rules", "cases.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode != 0) == broken, done.stdout + done.stderr
    if broken:
        assert "StsmeshAdmissionErrors" in done.stdout + done.stderr


def test_kustomize_users_get_the_same_rules() -> None:
    chart = yaml.safe_load(ALERTS.read_text())
    rule = yaml.safe_load((ROOT / "deploy/monitoring/prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule" and rule["spec"] == chart
