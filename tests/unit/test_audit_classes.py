"""Hosts whose audited values are equal are evaluated once, and share their endpoint uses;
a value of a host's own that an audited variable reads makes it a class of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovctl.audit import catalogue, hostvars, inputs
from sovctl.errors import InputError
from tests.helpers import write

ROOT = Path(__file__).resolve().parents[2]

SITE = """
    ---
    sov_provider: scaleway
    sov_region: fr-par
    sov_stun_servers: ["stun:stun.example.eu:3478"]
    sov_smtp_relay: "{{ mail_host }}:587"
    mail_host: smtp.example.eu
    sov_ntp_servers: [ntp.example.eu]
    """


def _hosts(n: int, group: str = "conferencing", extra: str = "") -> str:
    lines = "".join(f"        c{i}: {{ansible_host: 10.0.0.{i}}}\n" for i in range(n))
    return f"---\nall:\n  children:\n    {group}:\n      hosts:\n{lines}{extra}"


def _read(inv: Path) -> inputs.AuditInput:
    return inputs.read_inputs(hostvars.load(inv), catalogue.load_registry(), ROOT / "roles")


def _by_host(audit_input: inputs.AuditInput) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for use in audit_input.uses:
        for host in use.hosts:
            found.setdefault(host, set()).add((use.var, use.value))
    return found


def test_hosts_with_equal_values_share_one_use_per_endpoint(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", {"hosts.yml": _hosts(50), "group_vars/all.yml": SITE})
    audit_input = _read(inv)
    ntp = [u for u in audit_input.uses if u.var == "sov_ntp_servers"]
    assert len(ntp) == 1  # not 50
    assert ntp[0].hosts == tuple(f"c{i}" for i in range(50))
    # each host keeps its own address
    assert [h.address for h in audit_input.hosts] == [f"10.0.0.{i}" for i in range(50)]


def test_a_host_value_an_audited_variable_reads_splits_the_class(tmp_path: Path) -> None:
    """c1's mail_host (read by sov_smtp_relay through its template) and c2's sov_country
    are its own; c3's unrelated variable is not audited and changes nothing."""
    inv = write(tmp_path / "inv", {
        "hosts.yml": _hosts(4, "identity"), "group_vars/all.yml": SITE,
        "host_vars/c1.yml": "---\nmail_host: smtp.other.eu\n",
        "host_vars/c2.yml": "---\nsov_country: FR\n",
        "host_vars/c3.yml": "---\nunrelated: 1\n"})
    audit_input = _read(inv)
    smtp = {h: {v for var, v in uses if var == "keycloak_smtp_host"}
            for h, uses in _by_host(audit_input).items()}
    assert smtp == {"c0": {"smtp.example.eu:587"}, "c1": {"smtp.other.eu:587"},
                    "c2": {"smtp.example.eu:587"}, "c3": {"smtp.example.eu:587"}}
    hosts = {u.hosts for u in audit_input.uses if u.var == "keycloak_smtp_host"}
    assert hosts == {("c0", "c3"), ("c1",), ("c2",)}
    assert {h.name: h.country for h in audit_input.hosts} == {
        "c0": None, "c1": None, "c2": "FR", "c3": None}


def test_a_template_reading_the_host_name_is_evaluated_per_host(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", {
        "hosts.yml": _hosts(3), "group_vars/all.yml": SITE,
        "group_vars/conferencing.yml":
            '---\nlivekit_webhook_urls: ["https://hooks.example.eu/{{ inventory_hostname }}"]\n'})
    hooks = {h: {v for var, v in uses if var == "livekit_webhook_urls"}
             for h, uses in _by_host(_read(inv)).items()}
    assert hooks == {f"c{i}": {f"https://hooks.example.eu/c{i}"} for i in range(3)}


def test_an_error_names_the_first_host_of_its_class(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", {
        "hosts.yml": _hosts(3, extra="    identity:\n      hosts:\n        i0: {}\n"),
        "group_vars/all.yml": SITE,
        "group_vars/identity.yml": '---\nkeycloak_smtp_host: "{{ nowhere }}"\n'})
    with pytest.raises(InputError) as err:
        _read(inv)
    assert err.value.field == "hosts.i0.keycloak_smtp_host"
    assert err.value.file == str(inv / "group_vars" / "identity.yml")


def test_a_default_derived_from_a_group_is_one_use_per_relay_not_per_host(tmp_path: Path) -> None:
    """LiveKit's TURN default (every host of `turn`, read through groups and hostvars) is
    the same for every LiveKit host: built once, each relay used once by all of them."""
    n = 120
    conf = "".join(f"        c{i}: {{}}\n" for i in range(n))
    turn = "".join(f"        t{i}: {{}}\n" for i in range(n))
    inv = write(tmp_path / "inv", {
        "hosts.yml": f"---\nall:\n  children:\n    conferencing:\n      hosts:\n{conf}"
                     f"    turn:\n      hosts:\n{turn}",
        "group_vars/all.yml": SITE,
        "host_vars/t0.yml": "---\ncoturn_external_ip: 192.0.2.30/10.0.0.30\n"})
    uses = [u for u in _read(inv).uses if u.var == "livekit_turn_servers"]
    # two entries per relay (UDP and TLS), each one use shared by the n LiveKit hosts
    assert len(uses) == 2 * n
    assert {u.hosts for u in uses} == {tuple(f"c{i}" for i in range(n))}
    assert {u.value for u in uses} == {"192.0.2.30", *(f"t{i}" for i in range(1, n))}
    assert {u.origin for u in uses} == {"role livekit default"}


def test_a_group_template_one_host_overrides_is_still_checked_for_the_others(
        tmp_path: Path) -> None:
    """i0 sets keycloak_smtp_host itself; i1 has its group's value, a lookup: refused,
    naming i1, though i0 (the first host of those groups) was fine."""
    inv = write(tmp_path / "inv", {
        "hosts.yml": "---\nall:\n  children:\n    identity:\n      hosts:\n"
                     "        i0: {}\n        i1: {}\n",
        "group_vars/all.yml": SITE,
        "group_vars/identity.yml":
            "---\nkeycloak_smtp_host: \"{{ lookup('pipe', 'id') }}\"\n",
        "host_vars/i0.yml": "---\nkeycloak_smtp_host: smtp.example.eu:587\n"})
    with pytest.raises(InputError) as err:
        _read(inv)
    assert err.value.field == "hosts.i1.keycloak_smtp_host"
    assert "a template sovctl does not evaluate: calls lookup()" in err.value.message
