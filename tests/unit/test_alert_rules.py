"""The monitoring role's alert rules: promtool checks them and runs their unit tests
(roles/monitoring/files/rules/tests), with the promtool of Debian's prometheus package
(`make promtool` puts it in build/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "roles" / "monitoring" / "files" / "rules"
PROMTOOL = ROOT / "build" / "promtool" / "usr" / "bin" / "promtool"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = str(PROMTOOL) if PROMTOOL.exists() else shutil.which("promtool")
    if not found:
        pytest.skip("promtool not found: `make promtool` (make check and make test-all run it)")
    return found


# Every rules file, with its promtool unit tests beside it in tests/<name>_test.yml.
RULE_FILES = sorted(p.name for p in RULES.glob("*.yml"))


def test_every_rules_file_has_its_tests_and_is_installed():
    assert RULE_FILES == ["services.yml", "sovctl.yml"]
    installed = yaml.safe_load((ROOT / "roles" / "monitoring" / "vars" / "main.yml").read_text())[
        "__monitoring_rule_files"]
    assert sorted(installed) == RULE_FILES
    for name in RULE_FILES:
        assert (RULES / "tests" / name.replace(".yml", "_test.yml")).is_file(), name


@pytest.mark.parametrize("name", RULE_FILES)
def test_the_rules_are_valid(promtool, name):
    proc = subprocess.run([promtool, "check", "rules", str(RULES / name)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", RULE_FILES)
def test_every_alert_behaves_as_its_unit_tests_say(promtool, name):
    proc = subprocess.run([promtool, "test", "rules", name.replace(".yml", "_test.yml")],
                          cwd=RULES / "tests", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", RULE_FILES)
def test_every_alert_has_a_summary_a_runbook_and_a_unit_test(name):
    rules = yaml.safe_load((RULES / name).read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    tested = {t["alertname"] for case in yaml.safe_load(
        (RULES / "tests" / name.replace(".yml", "_test.yml")).read_text())["tests"]
        for t in case.get("alert_rule_test", [])}
    for alert in alerts:
        annotations = alert.get("annotations") or {}
        assert annotations.get("summary") and annotations.get("runbook"), alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["alert"] in tested, f"{alert['alert']} has no promtool unit test"


def test_a_broken_expectation_fails(promtool, tmp_path):
    """The unit tests can fail: the same tests, with one alert expected a minute early."""
    shutil.copy(RULES / "sovctl.yml", tmp_path / "sovctl.yml")
    (tmp_path / "tests").mkdir()
    text = (RULES / "tests" / "sovctl_test.yml").read_text()
    (tmp_path / "tests" / "sovctl_test.yml").write_text(
        text.replace("      - eval_time: 45s\n        alertname: SovctlServiceDown\n"
                     "        exp_alerts: []\n",
                     "      - eval_time: 45s\n        alertname: SovctlServiceDown\n"
                     "        exp_alerts: [{exp_labels: {instance: turn1}}]\n", 1))
    proc = subprocess.run([promtool, "test", "rules", "sovctl_test.yml"], cwd=tmp_path / "tests",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
