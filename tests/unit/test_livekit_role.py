"""The livekit and redis roles without a test host: defaults, rendered config, checkers.

The media, relay and token checks run against real hosts in molecule/livekit; these
pin what can be decided on the controller: what the TURN default derives from the
inventory, what config.yaml says for each UDP mode, and what the two configuration
checkers refuse.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LIVEKIT = ROOT / "roles" / "livekit"
REDIS = ROOT / "roles" / "redis"
SECRET = "s" * 40


def _role_vars(role: Path) -> dict:
    from sovctl.audit.hostvars import trusted  # marks sovctl's own data as templates

    data = {}
    for rel in ("defaults/main.yml", "vars/main.yml"):
        data.update(trusted(yaml.safe_load((role / rel).read_text()) or {}))
    return data


def _render(role: Path, value, **variables):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    context = _role_vars(role) | {"ansible_managed": "Ansible managed"} | variables
    if isinstance(value, str):
        value = trust_as_template(value)
    return Templar(loader=DataLoader(), variables=context).template(value)


INVENTORY = {
    "inventory_hostname": "sfu1",
    "sov_domain": "collab.example.eu",
    "sov_stun_servers": ["stun:turn1.example.eu:3478"],
    "ansible_default_ipv4": {"address": "10.0.0.10"},
    "groups": {"turn": ["turn1", "turn2"], "conferencing": ["sfu1"], "edge": ["sfu1"],
               "redis": []},
    "hostvars": {
        "turn1": {"ansible_default_ipv4": {"address": "10.0.0.5"}},
        "turn2": {"coturn_external_ip": "198.51.100.7/10.0.0.6", "coturn_tls_enabled": False,
                  "coturn_listening_port": 3479},
    },
    "vault_livekit_api_key": "APIkey",
    "vault_livekit_api_secret": SECRET,
    "vault_coturn_static_auth_secret": "t" * 48,
}


def test_turn_servers_default_to_the_turn_group_at_the_address_coturn_advertises():
    servers = _render(LIVEKIT, "{{ livekit_turn_servers }}", **INVENTORY)
    assert servers == [
        {"host": "10.0.0.5", "port": 3478, "protocol": "udp"},
        {"host": "10.0.0.5", "port": 5349, "protocol": "tls"},
        {"host": "198.51.100.7", "port": 3479, "protocol": "udp"},
    ]


def test_turn_servers_default_renders_empty_where_the_audit_reads_it():
    """The static audit has no `groups`: the default must render, as an empty list."""
    assert _render(LIVEKIT, "{{ livekit_turn_servers }}", sov_stun_servers=[]) == []


def _config(**overrides) -> dict:
    text = (LIVEKIT / "templates" / "config.yaml.j2").read_text()
    return yaml.safe_load(_render(LIVEKIT, text, **(INVENTORY | overrides)))


def test_config_hands_out_our_stun_and_turn_with_rest_credentials():
    conf = _config()
    rtc = conf["rtc"]
    assert rtc["stun_servers"] == ["turn1.example.eu:3478"]  # LiveKit adds stun: itself
    assert rtc["node_ip"] == "10.0.0.10" and rtc["use_external_ip"] is False
    assert rtc["tcp_port"] == 7881 and rtc["udp_port"] == 7882
    assert {(s["host"], s["protocol"]) for s in rtc["turn_servers"]} == {
        ("10.0.0.5", "udp"), ("10.0.0.5", "tls"), ("198.51.100.7", "udp")}
    assert all(s["secret"] == "t" * 48 and s["ttl"] == 14400 for s in rtc["turn_servers"])
    assert conf["keys"] == {"APIkey": SECRET}
    assert conf["bind_addresses"] == ["127.0.0.1"]
    assert conf["turn"] == {"enabled": False}
    assert "redis" not in conf and "webhook" not in conf  # one node, no webhooks
    assert conf["prometheus"] == {"port": 6789}


def test_config_range_mode_redis_and_webhooks():
    conf = _config(livekit_rtc_udp_mode="range", livekit_redis_enabled=True,
                   livekit_redis_address="10.0.0.20:6379", vault_redis_password="r" * 40,
                   livekit_webhook_urls=["https://hooks.example.eu/livekit"])
    assert "udp_port" not in conf["rtc"]
    assert (conf["rtc"]["port_range_start"], conf["rtc"]["port_range_end"]) == (50000, 60000)
    assert conf["redis"] == {"address": "10.0.0.20:6379", "password": "r" * 40}
    assert conf["webhook"] == {"api_key": "APIkey", "urls": ["https://hooks.example.eu/livekit"]}


def test_static_turn_credentials_are_passed_through():
    conf = _config(livekit_turn_servers=[{"host": "turn.example.eu", "port": 443,
                                          "protocol": "tls", "username": "u",
                                          "credential": "c"}])
    assert conf["rtc"]["turn_servers"] == [{"host": "turn.example.eu", "port": 443,
                                            "protocol": "tls", "username": "u",
                                            "credential": "c"}]


def test_redis_is_used_when_there_is_more_than_one_node():
    two = INVENTORY["groups"] | {"conferencing": ["sfu1", "sfu2"], "redis": ["kv1"]}
    hostvars = INVENTORY["hostvars"] | {"kv1": {"ansible_default_ipv4": {"address": "10.0.0.30"}}}
    assert _render(LIVEKIT, "{{ livekit_redis_enabled }}", **INVENTORY) is False
    assert _render(LIVEKIT, "{{ livekit_redis_enabled }}", **(INVENTORY | {"groups": two}))
    assert _render(LIVEKIT, "{{ livekit_redis_address }}",
                   **(INVENTORY | {"groups": two, "hostvars": hostvars})) == "10.0.0.30:6379"


def test_only_the_first_node_publishes_the_nginx_site():
    two = INVENTORY["groups"] | {"conferencing": ["sfu1", "sfu2"]}
    first = _render(LIVEKIT, "{{ __livekit_published }}", **(INVENTORY | {"groups": two}))
    second = _render(LIVEKIT, "{{ __livekit_published }}",
                     **(INVENTORY | {"groups": two, "inventory_hostname": "sfu2"}))
    assert first["nginx_site"]["locations"][0] == {
        "path": "/", "proxy_pass": "http://127.0.0.1:7880", "websocket": True,
        "proxy_read_timeout": "300s"}
    assert first["url"] == "wss://rtc.collab.example.eu"
    assert "nginx_site" not in second
    ports = {(p["port"], p["proto"]) for p in first["firewall_ports"]}
    assert ports == {(7881, "tcp"), (7882, "udp")}  # signalling stays on loopback


def test_private_bind_opens_signalling_to_the_edge_only():
    ports = _render(LIVEKIT, "{{ livekit_firewall_ports }}",
                    **(INVENTORY | {"livekit_bind_addresses": ["127.0.0.1", "10.0.0.10"],
                                    "groups": INVENTORY["groups"] | {"edge": ["edge1"]}}))
    assert {"port": 7880, "proto": "tcp", "from": ["edge1"]} in ports


# ---------------------------------------------------------------- the configuration checkers

def _load_script(path: Path, name: str):
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def fake_server(tmp_path):
    """Stands in for `livekit-server --config FILE ports` (its real output format)."""
    server = tmp_path / "livekit-server"
    server.write_text(f"#!{sys.executable}\n"
                      "import sys, yaml\n"
                      "conf = yaml.safe_load(open(sys.argv[2]))\n"
                      "if 'bogus' in conf: print('could not parse config: field bogus not found')\n"
                      "else: print('TCP Ports\\n7880 - HTTP service\\nUDP Ports')\n")
    server.chmod(0o755)
    return server


def _check(tmp_path, server, conf: dict, *flags: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(conf))
    return subprocess.run([sys.executable, str(LIVEKIT / "files" / "livekit-config-check"),
                           *flags, str(server), str(path)], capture_output=True, text=True)


def test_livekit_checker_accepts_the_rendered_config(tmp_path, fake_server):
    result = _check(tmp_path, fake_server, _config())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("change", "message"), [
    ({"bogus": 1}, "cannot load it"),
    ({"bind_addresses": ["0.0.0.0"]}, "not a loopback or private address"),  # noqa: S104
    ({"bind_addresses": ["192.0.2.10"]}, "not a loopback or private address"),
    ({"keys": {"APIkey": "short"}}, "shorter than 32"),
    ({"turn": {"enabled": True}}, "embedded TURN"),
])
def test_livekit_checker_refuses(tmp_path, fake_server, change, message):
    result = _check(tmp_path, fake_server, _config() | change)
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_livekit_checker_refuses_the_public_stun_fallback_unless_allowed(tmp_path, fake_server):
    conf = _config(sov_stun_servers=[], livekit_allow_public_stun_fallback=True)
    assert conf["rtc"]["stun_servers"] == []
    refused = _check(tmp_path, fake_server, conf)
    assert refused.returncode == 1 and "Google" in refused.stderr
    assert _check(tmp_path, fake_server, conf, "--allow-public-stun-fallback").returncode == 0


def test_redis_config_renders_a_hashed_password_and_private_binds(tmp_path):
    import hashlib

    text = _render(REDIS, (REDIS / "templates" / "redis.conf.j2").read_text(),
                   ansible_default_ipv4={"address": "10.0.0.30"}, vault_redis_password="p" * 40,
                   groups={"conferencing": ["sfu1"]})
    assert "bind 127.0.0.1 10.0.0.30\n" in text
    assert f"#{hashlib.sha256(b'p' * 40).hexdigest()}" in text
    assert "p" * 40 not in text and "requirepass" not in text
    assert "-@dangerous +info" in text
    checker = _load_script(REDIS / "files" / "redis-config-check", "redis_config_check")
    path = tmp_path / "redis.conf"
    path.write_text(text)
    assert checker.policy(str(path)) == []
    path.write_text(text.replace("bind 127.0.0.1 10.0.0.30", "bind 0.0.0.0"))
    assert checker.policy(str(path)) == ["bind 0.0.0.0 listens on every address"]
    path.write_text(text.replace("user default on #", "user default on nopass #"))
    assert "the default user is nopass" in checker.policy(str(path))


def test_audit_reads_the_livekit_defaults(tmp_path):
    """The audit renders the role's endpoint defaults (no `groups` there) without failing."""
    from sovctl.audit.service import AuditRequest, run_audit

    inv = tmp_path / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n"
        "    conferencing:\n      hosts:\n        sfu1: {ansible_host: 10.0.0.10}\n"
        "    turn:\n      hosts:\n        turn1: {ansible_host: 10.0.0.5}\n")
    (inv / "group_vars" / "all.yml").write_text(
        "sov_provider: ovhcloud\nsov_region: gra\nsov_country: FR\n"
        "sov_stun_servers: ['stun:turn1:3478']\nsov_ntp_servers: [ptbtime1.ptb.de]\n"
        "sov_apt_mirror: http://10.0.0.80/debian\n")
    report = run_audit(AuditRequest(inv, "eu-sovereign", ROOT / "policies", ROOT / "roles"))
    stun = [e for e in report["endpoints"] if e["url"] == "stun:turn1:3478"]
    assert stun and stun[0]["verdict"] == "ok"
    assert not [e for e in report["endpoints"] if "google" in e["url"] or "twilio" in e["url"]]


def test_redis_config_gives_the_exporter_a_user_of_its_own_on_its_own_line():
    """With monitoring hosts, the exporter's ACL user follows the default user's line (the
    two once ran together into one line, `+info# The exporter's...`, which Redis refused)."""
    import hashlib

    text = _render(REDIS, (REDIS / "templates" / "redis.conf.j2").read_text(),
                   ansible_default_ipv4={"address": "10.0.0.30"}, vault_redis_password="p" * 40,
                   vault_redis_exporter_password="e" * 40,
                   groups={"conferencing": ["sfu1"], "monitoring": ["mon1"]})
    users = [line for line in text.splitlines() if line.startswith("user ")]
    assert len(users) == 2, users
    assert users[0].endswith("-@dangerous +info"), users[0]
    assert users[1] == (f"user sovctl-exporter on #{hashlib.sha256(b'e' * 40).hexdigest()} "
                        "resetkeys resetchannels -@all +ping +info +config|get +slowlog|get "
                        "+slowlog|len +latency|latest +client|setname"), users[1]
