"""The monitoring receivers of an inventory: bad ones are refused by `sovctl check`, naming
the file and the field, before any host is touched."""

from __future__ import annotations

import shutil

import pytest
import yaml

from sovctl.inventory import load_inventory
from sovctl.validate import validate
from tests.helpers import ROOT


def _with_receivers(tmp_path, receivers, relay="smtp.collab.example.org:587"):
    inv = tmp_path / "inv"
    shutil.copytree(ROOT / "inventories" / "example", inv)
    main = inv / "group_vars" / "all" / "main.yml"
    data = yaml.safe_load(main.read_text())
    data["monitoring_receivers"] = receivers
    data["sov_smtp_relay"] = relay
    main.write_text(yaml.safe_dump(data))
    return [p for p in validate(load_inventory(inv), secrets=False)
            if "monitoring_receivers" in p.field]


def test_the_example_s_receivers_are_valid(tmp_path):
    assert _with_receivers(tmp_path, [
        {"type": "email", "to": "ops@collab.example.org"},
        {"type": "webhook", "url": "https://chat.collab.example.org/hooks/alerts"},
        {"type": "webhook", "url": "http://127.0.0.1:9099/"}]) == []


@pytest.mark.parametrize("receivers,relay,message", [
    ([{"type": "pager", "to": "ops@x.org"}], "smtp.x.org:587", "must be one of: webhook, email"),
    ([{"type": "webhook", "url": "http://alerts.x.org/hook"}], "smtp.x.org:587",
     "'http://alerts.x.org/hook' is not https://"),
    ([{"type": "webhook", "url": "http://127.0.0.1.evil.org/"}], "smtp.x.org:587",
     "is not https://"),
    ([{"type": "email", "to": "ops@x.org"}], "", "mail receivers need a mail relay"),
], ids=["unknown-type", "plain-http", "loopback-lookalike", "mail-without-relay"])
def test_a_bad_receiver_is_refused_with_its_file_and_field(tmp_path, receivers, relay, message):
    problems = _with_receivers(tmp_path, receivers, relay)
    assert problems, "accepted"
    assert any(message in p.message for p in problems), [str(p) for p in problems]
    assert all(p.file.endswith("group_vars/all/main.yml") for p in problems), [
        p.file for p in problems]


# ------------------------------------------------------------ the site's own alert rules

GOOD_RULES = """groups:
  - name: site
    rules:
      - alert: SiteBackupsLate
        expr: time() - sovctl_backup_last_success_timestamp_seconds > 2 * 86400
        for: 10m
        labels: {severity: warning}
        annotations: {summary: "backups are late on {{ $labels.instance }}"}
      - record: site:up:sum
        expr: sum(up)
"""


def _with_rule_file(tmp_path, text, listed="../alert-rules/site.yml"):
    inv = tmp_path / "inv"
    shutil.copytree(ROOT / "inventories" / "example", inv)
    (tmp_path / "alert-rules").mkdir()
    (tmp_path / "alert-rules" / "site.yml").write_text(text)
    main = inv / "group_vars" / "all" / "main.yml"
    data = yaml.safe_load(main.read_text())
    data["monitoring_rule_files"] = [listed]
    main.write_text(yaml.safe_dump(data))
    return [p for p in validate(load_inventory(inv), secrets=False)
            if "monitoring_rule_files" in p.field or p.file.endswith("site.yml")]


def test_a_well_formed_rule_file_is_accepted(tmp_path):
    assert _with_rule_file(tmp_path, GOOD_RULES) == []


def test_sovctl_s_own_rules_pass_the_same_check():
    from sovctl import alert_rules

    rules = ROOT / "roles" / "monitoring" / "files" / "rules"
    files = sorted(rules.glob("*.yml"))
    assert files
    for path in files:
        assert alert_rules.check(path) == [], path


@pytest.mark.parametrize("text,field,message", [
    ("groups:\n  - name: site\n    rules:\n      - alert: X\n        expr: up == 0\n"
     "       for: 5m\n", "line", "not a readable YAML rule file"),
    ("- alert: X\n  expr: up == 0\n", "groups", "non-empty list `groups:`"),
    ("groups:\n  - name: site\n    rules:\n      - alert: X\n", "groups[0].rules[0].expr",
     "is missing or empty"),
    ("groups:\n  - name: site\n    rules:\n      - alert: X\n        expr: rate(up[5m]\n",
     "groups[0].rules[0].expr", "unbalanced"),
    ("groups:\n  - name: site\n    rules:\n      - alert: X\n        expr: up == 0\n"
     "        for: five minutes\n", "groups[0].rules[0].for", "is not a duration"),
    ("groups:\n  - name: site\n    rules:\n      - alert: Bad-Name\n        expr: up\n",
     "groups[0].rules[0].alert", "is not a valid alert name"),
    ("groups:\n  - name: a\n    rules: [{alert: X, expr: up}]\n"
     "  - name: a\n    rules: [{alert: Y, expr: up}]\n", "groups[1].name", "another group"),
    ("groups:\n  - name: site\n    rules:\n      - alert: X\n        record: y\n"
     "        expr: up\n", "groups[0].rules[0]", "exactly one of alert or record"),
], ids=["yaml-indent", "no-groups", "no-expr", "unbalanced", "bad-for", "bad-name",
        "duplicate-group", "alert-and-record"])
def test_a_malformed_rule_file_is_refused_with_its_file_and_field(tmp_path, text, field,
                                                                   message):
    problems = _with_rule_file(tmp_path, text)
    assert problems, "accepted"
    ours = [p for p in problems if p.file.endswith("alert-rules/site.yml")]
    assert any(p.field.startswith(field) and message in p.message for p in ours), [
        str(p) for p in problems]
    assert all("monitoring_rule_files[0]" in p.hint for p in ours)


def test_a_missing_rule_file_names_the_inventory_field(tmp_path):
    problems = _with_rule_file(tmp_path, GOOD_RULES, listed="../alert-rules/nope.yml")
    assert [(p.field, p.file.endswith("group_vars/all/main.yml")) for p in problems] == [
        ("monitoring_rule_files[0]", True)]
    assert "does not exist" in problems[0].message


def test_a_rule_file_inside_the_inventory_is_refused(tmp_path):
    problems = _with_rule_file(tmp_path, GOOD_RULES, listed="group_vars/all/main.yml")
    assert [p.field for p in problems] == ["monitoring_rule_files[0]"]
    assert "inside the inventory directory" in problems[0].message
