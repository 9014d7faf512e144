"""High availability rendered on the controller: what the roles derive for three database
members (Patroni, etcd), three Redis members (Sentinel), two meeting-app nodes, and what
the clients (LiveKit, Keycloak, the meeting app) are told. The failovers themselves run
against real hosts in molecule/cluster (tests/test_ha.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.unit.test_livekit_role import INVENTORY, REDIS, _config, _render

ROOT = Path(__file__).resolve().parents[2]
POSTGRESQL = ROOT / "roles" / "postgresql"
KEYCLOAK = ROOT / "roles" / "keycloak"
MEET = ROOT / "roles" / "meet"

MEMBERS = {"db1": "10.0.0.21", "db2": "10.0.0.22", "db3": "10.0.0.23"}
HOSTVARS = {name: {"ansible_default_ipv4": {"address": a}} for name, a in MEMBERS.items()}


def _db(**overrides):
    base = {"inventory_hostname": "db2", "ansible_default_ipv4": {"address": MEMBERS["db2"]},
            "groups": {"identity_db": list(MEMBERS), "identity": ["kc1"], "monitoring": []},
            "hostvars": HOSTVARS, "__postgresql_version": "17",
            "__postgresql_data_dir": "/var/lib/postgresql/17/main",
            "vault_postgresql_superuser_password": "s" * 40,
            "vault_postgresql_replication_password": "r" * 40,
            "vault_patroni_api_password": "p" * 40,
            "postgresql_hba": [{"database": "keycloak", "user": "keycloak",
                                "address": "10.0.0.31/32"}]}
    return base | overrides


def test_patroni_config_elects_in_etcd_over_tls_and_lets_only_members_replicate():
    text = (POSTGRESQL / "templates" / "patroni.yml.j2").read_text()
    conf = yaml.safe_load(_render(POSTGRESQL, text, **_db()))
    assert conf["name"] == "db2" and conf["scope"] == "sovctl"
    assert conf["etcd3"]["hosts"] == [f"{a}:2379" for a in MEMBERS.values()]
    assert conf["etcd3"]["protocol"] == "https" and conf["etcd3"]["cert"].endswith("host.crt")
    assert conf["restapi"]["listen"] == "10.0.0.22:8008" and conf["restapi"]["certfile"]
    assert conf["postgresql"]["connect_address"] == "10.0.0.22:5432"
    dcs = conf["bootstrap"]["dcs"]
    assert dcs["ttl"] >= dcs["loop_wait"] + 2 * dcs["retry_timeout"]
    hba = conf["postgresql"]["pg_hba"]
    assert [r for r in hba if " replication " in r] == [
        f"hostssl replication replicator {a}/32 scram-sha-256" for a in MEMBERS.values()]
    assert "hostssl keycloak keycloak 10.0.0.31/32 scram-sha-256" in hba
    assert not [r for r in hba if r.startswith("host ") and "127.0.0.1" not in r
                and "::1" not in r], "only loopback may connect without TLS"
    assert conf["postgresql"]["authentication"]["replication"]["sslmode"] == "require"


def test_etcd_and_the_patroni_api_are_opened_to_the_members_only():
    ports = _render(POSTGRESQL, "{{ postgresql_firewall_ports }}", **_db())
    by_port = {p["port"]: p["from"] for p in ports}
    for port in (2379, 2380, 8008):
        assert by_port[port] == list(MEMBERS.values())
    assert by_port[5432] == ["10.0.0.31/32"] + [f"{a}/32" for a in MEMBERS.values()]
    single = _render(POSTGRESQL, "{{ postgresql_firewall_ports }}",
                     **_db(groups={"identity_db": ["db1"], "identity": ["kc1"]},
                           inventory_hostname="db1"))
    assert single == [{"port": 5432, "proto": "tcp", "from": ["10.0.0.31/32"]}]


def test_etcd_knows_every_member_by_its_address():
    text = (POSTGRESQL / "templates" / "etcd.default.j2").read_text()
    env = dict(line.split("=", 1) for line in _render(POSTGRESQL, text, **_db()).splitlines()
               if "=" in line and not line.startswith("#"))
    assert env["ETCD_INITIAL_CLUSTER"] == ",".join(
        f"{n}=https://{a}:2380" for n, a in MEMBERS.items())
    assert env["ETCD_CLIENT_CERT_AUTH"] == "true" and env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
    assert env["ETCD_LISTEN_CLIENT_URLS"] == "https://10.0.0.22:2379"


def test_keycloak_and_the_meeting_app_list_every_member_and_want_the_writer():
    common = {"groups": {"identity_db": list(MEMBERS), "identity": ["kc1", "kc2"],
                         "meet": ["m1"]},
              "hostvars": HOSTVARS, "inventory_hostname": "kc1",
              "ansible_default_ipv4": {"address": "10.0.0.31"}}
    hosts = _render(KEYCLOAK, "{{ keycloak_db_hosts }}", **common)
    assert hosts == list(MEMBERS.values())
    template = (KEYCLOAK / "templates" / "keycloak.conf.j2").read_text()
    db_lines = template[template.index("{% set __db_params"):]
    db_lines = db_lines[:db_lines.index("\n", db_lines.index("db-url="))]
    assert _render(KEYCLOAK, db_lines, **common).strip() == (
        "db-url=jdbc:postgresql://10.0.0.21:5432,10.0.0.22:5432,10.0.0.23:5432/keycloak"
        "?sslmode=require&targetServerType=primary&hostRecheckSeconds=2")
    url = _render(MEET, "{{ __meet_database_url }}", **(common | {"inventory_hostname": "m1"}))
    assert url.startswith("postgresql://meet@10.0.0.21:5432,10.0.0.22:5432,10.0.0.23:5432/meet?")
    assert "target_session_attrs=read-write" in url and "sslmode=require" in url
    one = _render(MEET, "{{ __meet_database_url }}",
                  **(common | {"groups": {"identity_db": ["db1"], "identity": ["kc1"],
                                          "meet": ["m1"]},
                               "inventory_hostname": "m1"}))
    assert "target_session_attrs" not in one and "@10.0.0.21:5432/meet?" in one


def test_livekit_asks_the_sentinels_when_redis_has_three_members():
    groups = INVENTORY["groups"] | {"conferencing": ["sfu1", "sfu2"], "redis": list(MEMBERS)}
    conf = _config(livekit_redis_enabled=True, groups=groups, hostvars=INVENTORY["hostvars"]
                   | HOSTVARS, vault_redis_password="r" * 40,
                   vault_redis_sentinel_password="t" * 40)
    assert conf["redis"] == {"sentinel_master_name": "sovctl",
                             "sentinel_addresses": [f"{a}:26379" for a in MEMBERS.values()],
                             "sentinel_password": "t" * 40, "password": "r" * 40}


def test_redis_members_replicate_the_agreed_master_with_least_privilege_users():
    text = (REDIS / "templates" / "redis.conf.j2").read_text()
    variables = {"inventory_hostname": "db2", "ansible_default_ipv4": {"address": "10.0.0.22"},
                 "groups": {"redis": list(MEMBERS), "conferencing": ["sfu1", "sfu2"],
                            "monitoring": []},
                 "hostvars": HOSTVARS, "vault_redis_password": "r" * 40,
                 "vault_redis_sentinel_password": "t" * 40,
                 "vault_redis_replication_password": "u" * 40,
                 "__redis_master_address": "10.0.0.21"}
    conf = _render(REDIS, text, **variables)
    assert "replicaof 10.0.0.21 6379" in conf
    replica = next(line for line in conf.splitlines() if line.startswith("user sovctl-replica"))
    assert replica.endswith("-@all +psync +replconf +ping")
    master = _render(REDIS, text, **(variables | {"__redis_master_address": "10.0.0.22"}))
    assert "replicaof" not in master
    ports = _render(REDIS, "{{ redis_firewall_ports }}", **variables)
    assert {p["port"] for p in ports} == {6379, 26379}
    single = _render(REDIS, text, **(variables | {"groups": {"redis": ["db1"],
                                                             "conferencing": ["sfu1"]}}))
    assert "sovctl-sentinel" not in single and "replicaof" not in single


def test_several_meeting_nodes_listen_privately_behind_every_edge():
    common = {"groups": {"meet": ["m1", "m2"], "identity": [], "conferencing": []},
              "hostvars": {"m1": {"ansible_default_ipv4": {"address": "10.0.0.41"}},
                           "m2": {"ansible_default_ipv4": {"address": "10.0.0.42"}}},
              "inventory_hostname": "m1", "ansible_default_ipv4": {"address": "10.0.0.41"},
              "sov_domain": "collab.example.eu"}
    site = _render(MEET, "{{ meet_nginx_site }}", **common)
    assert site["upstreams"][0]["servers"] == ["10.0.0.41:8090", "10.0.0.42:8090"]
    assert site["locations"][0]["proxy_pass"] == "http://sovmeet_nodes"
    assert _render(MEET, "{{ meet_listen_host | trim }}", **common) == "10.0.0.41"
    assert _render(MEET, "{{ meet_firewall_ports }}", **common) == [
        {"port": 8090, "proto": "tcp", "from": ["10.0.0.41", "10.0.0.42"]}]
    alone = common | {"groups": {"meet": ["m1"], "identity": [], "conferencing": []}}
    assert _render(MEET, "{{ meet_listen_host | trim }}", **alone) == "127.0.0.1"
    assert _render(MEET, "{{ meet_firewall_ports }}", **alone) == []
