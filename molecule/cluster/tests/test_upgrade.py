"""Rolling upgrade of the Keycloak cluster with `sovctl upgrade`, users logging in meanwhile.

The scenario converges Keycloak 26.7.2 (the patch release before the newest: nodes of
two minor versions cannot share a cluster, which the playbook checks).
First an upgrade to 26.7.3 whose new version cannot start (a database port nothing
answers, passed to that run through the scenario's SOVCTL_TEST_KEYCLOAK_DB_PORT) must roll
cl-kc1 back to 26.7.2 with its database, stop before cl-kc2, exit non-zero naming the
host, and leave users able to log in. Then the real upgrade to 26.7.3 runs while a
thread logs users in through nginx without pause: no login may fail, and both nodes end
on 26.7.3. A second run changes nothing.

Runs after test_cluster.py (file order): it changes the nodes' version.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sovctl.probes import Skipped, context
from sovctl.probes import cluster as cluster_checks
from sovctl.probes.keycloak import login, verified_claims
from sovctl.probes.pytest_adapter import probe_run  # noqa: F401 - the fixture

ID_NODES = cluster_checks.ID_NODES

FROM, TO = "26.7.2", "26.7.3"
# Bounds of the login loop: it stops when the upgrade ends, or at these at the latest.
LOGIN_LOOP_MAX = 3000
LOGIN_LOOP_DEADLINE_S = 45 * 60
UPGRADE_TIMEOUT_S = 40 * 60
SCENARIO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kcc(probe_run):  # noqa: F811 - the fixture imported above
    """The cluster's Keycloak nodes (addresses, CA, test user), as the cluster probes see
    them (made again in this module's run)."""
    try:
        return cluster_checks.kcc(probe_run)
    except Skipped as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def mirror():
    """Both Keycloak versions served on the bridge for the whole module (the scenario's
    own mirror server lives 15 minutes; an upgrade of two nodes can take longer)."""
    sys.path.insert(0, str(SCENARIO.parent / "shared"))
    import artifact_mirror

    directory = artifact_mirror.ephemeral_dir() / "upgrade-mirror"
    artifact_mirror.mirror.sync(directory, only=[f"keycloak@{FROM}", f"keycloak@{TO}"],
                                catalogue=artifact_mirror.mirror.load_catalogue(),
                                log=lambda m: None)
    log = artifact_mirror.ephemeral_dir() / "upgrade-mirror.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["timeout", str(UPGRADE_TIMEOUT_S * 2), sys.executable, "-m", "sovctl", "mirror",
             "serve", str(directory), "--bind", artifact_mirror.bridge_gateway(), "--port", "0",
             "--quiet"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    url = None
    for _ in range(100):
        found = re.search(r"at (http://[\d.]+:\d+)/", log.read_text())
        if found:
            url = found.group(1)
            break
        time.sleep(0.2)
    try:
        assert url, f"`sovctl mirror serve` did not start: {log.read_text()}"
        yield url
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def sovctl_upgrade(mirror_url: str, *args: str, env_extra: dict | None = None):
    env = {k: v for k, v in os.environ.items() if k != "SOVCTL_TEST_KEYCLOAK_DB_PORT"}
    env.update({"SOVCTL_VAULT_PASSWORD_FILE": str(SCENARIO / ".vault-pass"),
                "SOVCTL_TEST_MIRROR_URL": mirror_url,
                "SOVCTL_STATE_DIR": os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"),
                **(env_extra or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "sovctl", "upgrade", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         "--service", "keycloak", *args],
        capture_output=True, text=True, timeout=UPGRADE_TIMEOUT_S, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def active_version(node) -> str:
    return node.run("readlink /opt/keycloak/current").stdout.strip()


def running_version(node) -> str:
    """The version the running Keycloak announced at its last start."""
    line = node.run("journalctl -u keycloak --no-pager -o cat | "
                    "grep -E 'Keycloak [0-9.]+ on JVM' | tail -1").stdout
    found = re.search(r"Keycloak ([0-9.]+) on JVM", line)
    return found.group(1) if found else f"(none in: {line!r})"


class LoginLoop(threading.Thread):
    """Logs alice in through nginx (authorization code + PKCE, ID token verified) again and
    again until told to stop, LOGIN_LOOP_MAX logins or LOGIN_LOOP_DEADLINE_S."""

    def __init__(self, kcc):
        super().__init__(daemon=True)
        self.kcc = kcc
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.first: float | None = None
        self.last: float | None = None

    def run(self):
        deadline = time.monotonic() + LOGIN_LOOP_DEADLINE_S
        while (not self.stop.is_set() and time.monotonic() < deadline
               and self.ok + len(self.failures) < LOGIN_LOOP_MAX):
            started = time.monotonic()
            try:
                token, error = login(self.kcc, "alice", self.kcc["password"])
                if error is None and verified_claims(self.kcc, token)["preferred_username"] \
                        != "alice":
                    error = "the ID token is not alice's"
            except Exception as exc:  # noqa: BLE001 - every failure is a failed login
                error = f"{type(exc).__name__}: {exc}"
            self.first = self.first or started
            self.last = time.monotonic()
            if error is None:
                self.ok += 1
            else:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {error}"[:300])
            time.sleep(0.2)


def _nodes(kcc):
    return {name: kcc["nodes"][name]["host"] for name in ID_NODES}


def _what_the_hosts_saw(kcc) -> str:
    """For a failed login loop: each node's Keycloak warnings and cluster views and the
    edge's nginx errors and upstream, of the last minutes (the test hosts are gone after)."""
    parts = []
    for name, node in _nodes(kcc).items():
        parts.append(f"--- {name}: keycloak journal (warnings, errors, cluster views) ---\n"
                     + node.run("journalctl -u keycloak --since -10min --no-pager -o short-precise"
                                " | grep -E 'WARN|ERROR|ISPN00009[34]|started in|stopped in'"
                                " | tail -40").stdout)
        parts.append(f"--- {name}: nginx error log and upstreams ---\n"
                     + node.run("tail -20 /var/log/nginx/error.log 2>/dev/null; "
                                "grep -rh -A3 '^upstream' /etc/nginx/sites-enabled 2>/dev/null"
                                ).stdout)
    return "\n".join(parts)


def _upstream_servers(kcc) -> dict[str, list[str]]:
    """The `server` lines of the `keycloak_nodes` upstream on each edge in front of Keycloak."""
    found = {}
    for name, node in _nodes(kcc).items():
        sites = node.run("cat /etc/nginx/sites-enabled/*.conf 2>/dev/null").stdout
        block = re.search(r"^upstream keycloak_nodes \{(.*?)^\}", sites, re.M | re.S)
        if block:
            found[name] = re.findall(r"^\s*(server [^;]*);", block.group(1), re.M)
    return found


def _assert_every_node_serves(kcc, out: str):
    """The upgrade put every node back into nginx's upstream, none left `down`."""
    upstreams = _upstream_servers(kcc)
    assert upstreams, "no edge has a keycloak_nodes upstream"
    for edge, servers in upstreams.items():
        assert len(servers) == len(ID_NODES), f"{edge}: {servers}"
        assert not [s for s in servers if " down" in s], (
            f"{edge}: a node was left drained after the upgrade: {servers}\n{out[-3000:]}")


def _database_leader() -> str:
    """The identity_db host that leads (PostgreSQL under Patroni), else the only one."""
    members = [h.name for h in context.hosts("identity_db")]
    for name in members if len(members) > 1 else []:
        out = context.testinfra_host(name).run(cluster_checks.PATRONI_LIST)
        if out.rc == 0:
            leaders = [m["Member"] for m in json.loads(out.stdout) if m.get("Role") == "Leader"]
            if leaders:
                return leaders[0]
    return members[0]


def _drains(out: str) -> int:
    """How many times sovctl upgrade took a node out of nginx's upstream."""
    return len(re.findall(r"^\s+changed\s+\S+\s+Take this node out of the edges' nginx upstream",
                          out, re.M))


def test_a_failed_upgrade_rolls_the_first_node_back_and_stops(kcc, mirror):
    nodes = _nodes(kcc)
    for name, node in nodes.items():
        assert active_version(node) == FROM, f"{name} is not on {FROM}: the scenario converges it"
    first, second = ID_NODES[0], ID_NODES[1]
    # The wait gives up as soon as Keycloak has crashed twice (keycloak_start_max_restarts):
    # the timeout only has to be longer than two crashed starts on a busy machine, where one
    # start took over 85 s (a 180 s timeout expired first there).
    rc, out = sovctl_upgrade(mirror, "--to", TO, "--health-timeout", "600",
                             env_extra={"SOVCTL_TEST_KEYCLOAK_DB_PORT": "1"})
    assert rc != 0, out
    stopped = re.search(r"^Upgrade stopped: (.*)$", out, re.M)
    assert stopped, out
    assert stopped.group(1).startswith(f"{first}: Keycloak {TO} failed; rolled back to {FROM}"), out
    # 26.7.3 never reached the database, so its schema was not migrated: the dump is kept
    # but not restored (a restore under the running second node would cut it off).
    assert "the database was not migrated: not restored" in stopped.group(1), out
    # The readiness wait saw the new version crash and gave up early, saying why.
    assert re.search(r"Keycloak exited \d+ times while starting", out), out
    # The first node runs the previous version again, the second was never touched.
    assert active_version(nodes[first]) == FROM and running_version(nodes[first]) == FROM
    assert active_version(nodes[second]) == FROM and running_version(nodes[second]) == FROM
    assert not nodes[second].file(f"/opt/keycloak/{TO}").exists, (
        f"{second} was upgraded although {first} failed:\n{out}")
    # The first node was drained while it failed and rolled back, and is serving again.
    assert _drains(out) == 1, out
    _assert_every_node_serves(kcc, out)
    # Users log in through nginx, and on each node.
    token, error = login(kcc, "alice", kcc["password"])
    assert error is None, f"login after the rollback: {error}"
    for name in ID_NODES:
        origin = kcc["nodes"][name]["origin"]
        token, error = login(kcc, "alice", kcc["password"], start=origin, submit=origin,
                             exchange=origin)
        assert error is None, f"login on {name} after the rollback: {error}"


def test_rolling_upgrade_keeps_every_login_working(kcc, mirror):
    nodes = _nodes(kcc)
    loop = LoginLoop(kcc)
    loop.start()
    try:
        while loop.ok == 0 and not loop.failures and loop.is_alive():
            time.sleep(0.5)  # the loop is logging users in before the upgrade starts
        upgrade_started = time.monotonic()
        rc, out = sovctl_upgrade(mirror, "--to", TO)
        upgrade_ended = time.monotonic()
        # A few more logins on the upgraded cluster.
        target = loop.ok + len(loop.failures) + 5
        while loop.ok + len(loop.failures) < target and loop.is_alive():
            time.sleep(0.5)
    finally:
        loop.stop.set()
        loop.join(timeout=120)
    print(f"logins during the rolling upgrade: {loop.ok} succeeded, {len(loop.failures)} failed")
    assert rc == 0, out
    assert loop.first < upgrade_started and loop.last > upgrade_ended, (
        "the login loop did not span the whole upgrade")
    assert loop.failures == [], (
        f"{len(loop.failures)} of {loop.ok + len(loop.failures)} logins failed during the "
        "rolling upgrade:\n" + "\n".join(loop.failures[:20])
        + "\n--- the end of sovctl upgrade's output ---\n" + out[-6000:] + "\n"
        + _what_the_hosts_saw(kcc))
    # Each node was out of nginx's upstream while it was upgraded, and is back in it.
    assert _drains(out) == len(ID_NODES), out
    _assert_every_node_serves(kcc, out)
    for name, node in nodes.items():
        assert active_version(node) == TO, f"{name}: current -> {active_version(node)}"
        assert running_version(node) == TO, f"{name} runs {running_version(node)}"
    # Each node's pre-upgrade dump is kept, root-only, on the database host: under Patroni
    # the member that leads (test_ha.py's failover moved the lead from the first member).
    db = context.testinfra_host(_database_leader())
    backups = db.file("/var/backups/sovctl")
    assert backups.is_directory and backups.user == "root" and backups.mode == 0o700
    for name in ID_NODES:
        dumps = db.run(f"ls /var/backups/sovctl/keycloak-keycloak-{name}-{FROM}-to-{TO}-*.dump")
        assert dumps.rc == 0, f"no pre-upgrade dump for {name}: {dumps.stderr}"
        dump = db.file(dumps.stdout.split()[-1])
        assert dump.user == "root" and dump.mode == 0o600 and dump.size > 0


def test_upgrading_to_the_active_version_changes_nothing(kcc, mirror):
    rc, out = sovctl_upgrade(mirror, "--to", TO)
    assert rc == 0, out
    recap = re.findall(r"^\s+(\S+)\s+ok=\d+\s+changed=(\d+)", out, re.M)
    assert recap and all(changed == "0" for _, changed in recap), out
    # sovctl's progress lists task names: each node took the "already at the target" path.
    assert len(re.findall(r"^\s+ok\s+\S+\s+Say that this node is already at the target$", out,
                          re.M)) == len(ID_NODES), out
