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
