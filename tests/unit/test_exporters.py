"""The exporters' ports and the scrape configuration, decided on the controller.

Every exporter port is firewall data for the monitoring hosts only (and nothing without a
monitoring group); the Prometheus configuration rendered for the sandbox's and the
example's inventories holds a target, labelled with the inventory host name, for every
host each job applies to.
"""

from __future__ import annotations

import pytest
import yaml

from sovctl.inventory import load_inventory
from tests.helpers import ROOT
from tests.unit.test_livekit_role import _render

ROLES = ROOT / "roles"
MON = ["mon1"]
BASE = {"inventory_hostname": "host1", "sov_domain": "collab.example.eu",
        "ansible_default_ipv4": {"address": "10.0.0.10"}, "hostvars": {}}

# (role, its firewall variable, the exporter's port variable)
EXPORTERS = [
    ("node_exporter", "node_exporter_firewall_ports", "node_exporter_port"),
    ("postgres_exporter", "postgres_exporter_firewall_ports", "postgres_exporter_port"),
    ("redis_exporter", "redis_exporter_firewall_ports", "redis_exporter_port"),
    ("nginx_exporter", "nginx_exporter_firewall_ports", "nginx_exporter_port"),
]


@pytest.mark.parametrize("role,firewall,port", EXPORTERS, ids=[e[0] for e in EXPORTERS])
def test_an_exporter_port_is_open_to_the_monitoring_hosts_only(role, firewall, port):
    groups = {"monitoring": MON, "all": ["host1", "mon1"]}
    rules = _render(ROLES / role, "{{ " + firewall + " }}", **(BASE | {"groups": groups}))
    expected = _render(ROLES / role, "{{ " + port + " }}", **(BASE | {"groups": groups}))
    assert rules == [{"port": expected, "proto": "tcp", "from": MON}]
    assert _render(ROLES / role, "{{ " + firewall + " }}",
                   **(BASE | {"groups": {"all": ["host1"]}})) == []


def test_keycloak_opens_its_management_port_to_the_monitoring_hosts_only():
    groups = {"monitoring": MON, "identity": ["host1"]}
    rules = _render(ROLES / "keycloak", "{{ keycloak_firewall_ports }}",
                    **(BASE | {"groups": groups}))
    assert rules == [{"port": 9000, "proto": "tcp", "from": MON}]
    assert _render(ROLES / "keycloak", "{{ keycloak_management_host }}",
                   **(BASE | {"groups": groups})) == "10.0.0.10"
    alone = BASE | {"groups": {"identity": ["host1"]}}
    assert _render(ROLES / "keycloak", "{{ keycloak_firewall_ports }}", **alone) == []
    assert _render(ROLES / "keycloak", "{{ keycloak_management_host }}", **alone) == "127.0.0.1"


def test_livekit_opens_its_metrics_port_to_the_monitoring_hosts_only():
    groups = {"monitoring": MON, "conferencing": ["host1"], "turn": [], "redis": []}
    rules = _render(ROLES / "livekit", "{{ livekit_firewall_ports }}",
                    **(BASE | {"groups": groups}))
    metrics = [r for r in rules if r["port"] == 6789]
    assert metrics == [{"port": 6789, "proto": "tcp", "from": MON}]
    without = _render(ROLES / "livekit", "{{ livekit_firewall_ports }}",
                      **(BASE | {"groups": {"conferencing": ["host1"], "turn": [], "redis": []}}))
    assert [r for r in without if r["port"] == 6789] == []


# Jobs, the groups whose hosts each scrapes (PostgreSQL: identity_db, else identity).
def _expected(groups: dict) -> dict[str, list[str]]:
    return {
        "node": groups["all"],
        "postgres": groups.get("identity_db") or groups.get("identity", []),
        "redis": groups.get("redis", []),
        "nginx": groups.get("edge", []),
        "livekit": groups.get("conferencing", []),
        "keycloak": groups.get("identity", []),
    }


def _scrape_config(inventory: str, published: dict | None = None,
                   facts: dict | None = None) -> tuple[dict, dict]:
    inv = load_inventory(ROOT / "inventories" / inventory)
    groups: dict[str, list[str]] = {"all": sorted(inv.hosts)}
    for host in inv.hosts.values():
        for group in host.groups:
            groups.setdefault(group, []).append(host.name)
    hostvars = {name: dict(host.vars) | {"sov_published": (published or {}).get(name, {})}
                | (facts or {}).get(name, {}) for name, host in inv.hosts.items()}
    (mon,) = groups["monitoring"]
    text = (ROLES / "monitoring" / "templates" / "prometheus.yml.j2").read_text()
    rendered = _render(ROLES / "monitoring", text, inventory_hostname=mon, groups=groups,
                       hostvars=hostvars, ansible_managed="Ansible managed")
    return yaml.safe_load(rendered), groups


@pytest.mark.parametrize("inventory", ["sandbox", "example"])
def test_the_scrape_config_has_a_target_for_every_applicable_host(inventory):
    config, groups = _scrape_config(inventory)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job, hosts in _expected(groups).items():
        assert hosts, (inventory, job)
        got = sorted(c["labels"]["instance"] for c in jobs[job]["static_configs"])
        assert got == sorted(hosts), (inventory, job)
        for entry in jobs[job]["static_configs"]:
            assert len(entry["targets"]) == 1 and ":" in entry["targets"][0], entry
    assert {"prometheus", "alertmanager", "blackbox_exporter"} <= set(jobs)


def test_exporters_are_scraped_where_they_listen_not_at_ansible_host():
    """The exporters listen on the host's private address (ansible_default_ipv4): a host
    reached over SSH at another address (ansible_host) is scraped at the private one."""
    facts = {"sandbox-rtc": {"ansible_host": "192.0.2.12",
                             "ansible_default_ipv4": {"address": "10.231.47.12"}}}
    config, _groups = _scrape_config("sandbox", facts=facts)
    targets = {(job["job_name"], c["labels"]["instance"]): c["targets"][0]
               for job in config["scrape_configs"] for c in job["static_configs"]}
    for job in ("node", "redis", "nginx", "livekit"):
        assert targets[(job, "sandbox-rtc")].startswith("10.231.47.12:"), (job, targets)
    # Without facts (a run limited to other hosts), ansible_host is what is known.
    assert targets[("node", "sandbox-turn")].startswith("10.231.47.13:")


def test_every_public_name_the_edge_publishes_is_probed_over_https():
    published = {"sandbox-edge": {"keycloak": {"nginx_site": {"server_name": "10.231.47.11"}}},
                 "sandbox-meet": {"meet": {"nginx_site": {"server_name": "10.231.47.15"}},
                                  "common": {"firewall_ports": []}}}
    config, _ = _scrape_config("sandbox", published)
    (https,) = [j for j in config["scrape_configs"] if j["job_name"] == "https"]
    targets = {c["targets"][0]: c["labels"] for c in https["static_configs"]}
    assert targets == {
        "https://10.231.47.11/": {"instance": "sandbox-edge", "name": "10.231.47.11"},
        "https://10.231.47.15/": {"instance": "sandbox-meet", "name": "10.231.47.15"}}
    assert https["params"] == {"module": ["https_2xx"]}


def test_without_public_names_there_is_no_https_job():
    config, _ = _scrape_config("example")
    assert "https" not in {j["job_name"] for j in config["scrape_configs"]}


@pytest.mark.parametrize("inventory", ["sandbox", "example"])
def test_the_rendered_scrape_config_passes_promtool(inventory, tmp_path):
    import shutil
    import subprocess

    from tests.unit.test_alert_rules import PROMTOOL

    promtool = str(PROMTOOL) if PROMTOOL.exists() else shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not found: `make promtool`")
    published = {"sandbox-edge": {"keycloak": {"nginx_site": {"server_name": "10.231.47.11"}}}}
    config, _ = _scrape_config(inventory, published if inventory == "sandbox" else None)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([promtool, "check", "config", "--syntax-only", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
