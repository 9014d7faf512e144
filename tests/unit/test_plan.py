"""`sovctl plan`: the sizing arithmetic against hand-computed cases, and the inventory
comparison on inventories/example (docs/sizing.md)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sovctl import cli
from sovctl import plan as sizing
from sovctl.errors import InputError
from tests.helpers import ROOT

# One 16-vCPU node forwards 744 Mbit/s at 85% CPU: 744 / 13.6 Mbit/s per vCPU.
PER_VCPU = 744 / (16 * 0.85)


def by_role(roles):
    return {r.role: r for r in roles}


def test_one_to_one_calls_with_video_by_hand():
    # 1000 users, 10% at the peak: 100 participants in 50 two-person meetings, all with
    # video. Each receives the other's 720p layer (2500) and audio (32): 2532 kbit/s;
    # each sends three simulcast layers (3150) and audio (32): 3182 kbit/s.
    a = sizing.Assumptions(users=1000, meeting_mix=((2, 1.0),), video_share=1.0)
    r = by_role(sizing.plan(a))
    out_mbit, in_mbit = 100 * 2532 / 1000, 100 * 3182 / 1000
    assert r["livekit"].vcpus == pytest.approx(out_mbit / PER_VCPU * 1.5)  # 6.94
    assert r["livekit"].vcpus == pytest.approx(6.9426, abs=1e-4)
    assert r["livekit"].nodes == 1
    assert r["livekit"].bandwidth_gbit_s == pytest.approx((out_mbit + in_mbit) / 1000)
    # 20 relayed participants carry 5714 kbit/s each, twice through the relay's network;
    # 1000-byte packets at 126,000 per vCPU.
    relay_kbit = 20 * (2532 + 3182)
    assert r["turn"].vcpus == pytest.approx(relay_kbit * 1000 / 8 / 1000 / 126000 * 1.5)
    assert r["turn"].bandwidth_gbit_s == pytest.approx(2 * relay_kbit / 1e6)
    assert r["turn"].nodes == 2  # two relays at least
    # 1000 logins in 30 minutes: 0.556/s, 15 per vCPU, plus Keycloak's 150% headroom.
    assert r["keycloak"].vcpus == pytest.approx(1000 / 1800 / 15 * 2.5)
    assert (r["keycloak"].nodes, r["keycloak"].memory_gb) == (2, 2.5)
    # 50 meetings, 2% recorded: one recording, 4 CPUs at Egress' 80% limit.
    assert r["recorder"].vcpus == pytest.approx(5.0)
    assert (r["recorder"].nodes, r["recorder"].memory_gb) == (1, 4)


def test_grid_layers_and_audio_by_hand():
    # Meetings of 5 with half the cameras on: 2 remote videos on screen, each at the
    # grid's mid layer (1000), plus 4 remote audio streams (32): 2128 kbit/s received.
    a = sizing.Assumptions(users=10_000, meeting_mix=((5, 1.0),), video_share=0.5,
                           headroom=0.0)
    r = by_role(sizing.plan(a))
    assert r["livekit"].vcpus == pytest.approx(1000 * 2128 / 1000 / PER_VCPU)
    # Meetings of 50: at most 9 tiles at the low layer (500) and 49 audio streams.
    a = sizing.Assumptions(users=10_000, meeting_mix=((50, 1.0),), video_share=0.5,
                           headroom=0.0)
    r = by_role(sizing.plan(a))
    assert r["livekit"].vcpus == pytest.approx(1000 * (9 * 500 + 49 * 32) / 1000 / PER_VCPU)


def test_the_seeds_morning_peak_needs_three_keycloak_nodes():
    # 200,000 logins in 30 minutes = 111.1/s = 7.41 vCPUs, 18.5 with 150% headroom:
    # three nodes of 8 vCPUs (the guide's figures, docs/sizing.md).
    r = by_role(sizing.plan(sizing.Assumptions(users=200_000)))
    assert r["keycloak"].vcpus == pytest.approx(200_000 / 1800 / 15 * 2.5)
    assert r["keycloak"].nodes == 3


def test_a_room_too_big_for_one_node_is_named():
    a = sizing.Assumptions(users=100_000, meeting_mix=((500, 1.0),), video_share=1.0,
                           media_node_vcpus=4)
    notes = " ".join(by_role(sizing.plan(a))["livekit"].notes)
    assert "does NOT fit on one 4-vCPU node" in notes


@pytest.mark.parametrize("option, kwargs", [
    ("--users", {"users": 0}),
    ("--peak-share", {"peak_share": 1.5}),
    ("--meeting-mix", {"meeting_mix": ((2, 0.5),)}),
    ("--meeting-mix", {"meeting_mix": ((1, 1.0),)}),
])
def test_assumptions_out_of_range_name_the_option(option, kwargs):
    with pytest.raises(InputError) as err:
        sizing.plan(sizing.Assumptions(**{"users": 100, **kwargs}))
    assert err.value.field == option


def test_a_malformed_mix_is_refused():
    assert sizing.parse_mix("2:0.5,10:0.5") == ((2, 0.5), (10, 0.5))
    with pytest.raises(InputError):
        sizing.parse_mix("two:half")


def test_capacity_is_the_largest_number_of_users_that_fits():
    big = {"vcpus": 1e6, "memory_gb": 1e6, "largest_vcpus": 1e6, "hosts": 1}
    avail = {role: dict(big) for role in sizing.GROUPS}
    avail["livekit"] = {"vcpus": 16.0, "memory_gb": 64.0, "largest_vcpus": 16.0, "hosts": 1}
    a = sizing.Assumptions(users=1, meeting_mix=((2, 1.0),), video_share=1.0)
    # 0.1 participants per user * 2532 kbit/s / 54.7 Mbit/s per vCPU * 1.5 per user.
    per_user = 0.1 * 2532 / 1000 / PER_VCPU * 1.5
    assert sizing.capacity(a, avail) == int(16 / per_user)  # 2304
    assert sizing.capacity(a, avail) == 2304
    assert not sizing.shortfalls(sizing._with_users(a, 2304), avail)
    assert sizing.shortfalls(sizing._with_users(a, 2305), avail)


def test_plan_for_the_example_inventory_says_whether_and_for_how_many():
    result = CliRunner().invoke(cli.cli, ["plan", "-i", str(ROOT / "inventories/example"),
                                          "--users", "200000"])
    assert result.exit_code == 1, result.output  # one LiveKit node is not 200,000 users
    assert "enough for 200,000 users: NO" in result.output
    assert "short: livekit:" in result.output
    carries = CliRunner().invoke(cli.cli, ["plan", "-i", str(ROOT / "inventories/example"),
                                           "--users", "1000", "--format", "json"])
    assert carries.exit_code == 0, carries.output
    data = json.loads(carries.output)
    assert data["inventory"]["short"] == []
    assert 1000 <= data["inventory"]["carries_users"] < 200_000
    assert data["inventory"]["roles_without_hosts"] == ["recorder"]
    assert {r["role"] for r in data["roles"]} == set(sizing.GROUPS)
    assert all(r["source"] for r in data["roles"])


def test_the_worked_example_in_the_docs_is_the_tools_own_output(monkeypatch):
    monkeypatch.chdir(ROOT)  # the doc shows the example's path as typed from the checkout
    doc = (ROOT / "docs" / "sizing.md").read_text()
    table = CliRunner().invoke(cli.cli, ["plan", "--users", "200000"]).output
    rows = [line for line in table.splitlines() if line.startswith(tuple(sizing.GROUPS))]
    assert len(rows) == len(sizing.GROUPS)
    for row in rows:
        assert row in doc, f"docs/sizing.md is out of date: {row!r} (run sovctl plan)"
    example = CliRunner().invoke(cli.cli, ["plan", "-i", "inventories/example"]).output
    assert "carries at most" in example
    for line in example.splitlines():
        assert line in doc, f"docs/sizing.md is out of date: {line!r} (run sovctl plan -i)"


def test_check_warns_when_the_hosts_are_short_for_the_planned_users(tmp_path):
    import shutil

    from sovctl.commands.check import sizing_warnings
    from sovctl.inventory import load_inventory

    inv_dir = tmp_path / "inv"
    shutil.copytree(ROOT / "inventories/example", inv_dir)
    assert sizing_warnings(load_inventory(inv_dir)) == []  # no sov_planned_users: silent
    with (inv_dir / "group_vars/all/main.yml").open("a") as fh:
        fh.write("sov_planned_users: 200000\n")
    warnings = sizing_warnings(load_inventory(inv_dir))
    assert any(w.startswith("for sov_planned_users=200,000, livekit:") for w in warnings), \
        warnings
    (inv_dir / "group_vars/all/main.yml").write_text(
        (inv_dir / "group_vars/all/main.yml").read_text().replace(
            "sov_planned_users: 200000", "sov_planned_users: 500"))
    assert sizing_warnings(load_inventory(inv_dir)) == []


@pytest.mark.parametrize("var, value", [("sov_planned_users", "many"),
                                        ("sov_planned_users", 1.5), ("sov_vcpus", 0),
                                        ("sov_memory_gb", True)])
def test_a_size_or_planned_users_that_is_no_positive_number_is_refused(tmp_path, var, value):
    import shutil

    import yaml

    from sovctl.inventory import load_inventory
    from sovctl.validate import validate

    inv_dir = tmp_path / "inv"
    shutil.copytree(ROOT / "inventories/example", inv_dir)
    # The site's planned users in group_vars/all; a size in one host's host_vars file.
    target = inv_dir / ("group_vars/all/main.yml" if var == "sov_planned_users"
                        else "host_vars/id1.par.collab.example.org.yml")
    target.parent.mkdir(exist_ok=True)
    with target.open("a") as fh:
        fh.write(yaml.safe_dump({var: value}))
    problems = [str(p) for p in validate(load_inventory(inv_dir), secrets=False)]
    assert any(var in p and "must be a positive" in p and f"not {value!r}" in p
               and str(inv_dir) in p for p in problems), problems
