"""No single point of failure for the cluster's state (issue: PostgreSQL under Patroni,
Redis under Sentinel, the meeting app on several nodes).

- The PostgreSQL leader dies (its Patroni and PostgreSQL killed with SIGKILL and kept
  down, as a crashed host) while users log in through nginx without pause: another
  member is elected within 30 s, logins fail only within that window and all succeed
  afterwards, and users created before the kill still log in.
- The Redis master dies (SIGKILL, kept down): within 30 s the sentinels have promoted a
  replica and two new LiveKit participants, one through each node, meet in a new room.
- One meeting-app node is stopped: creating a meeting and getting its join token keep
  working through the edge in front of it (nginx passes to the other node).

The figures (failover times, failed logins) are printed; docs/benchmarks.md records them.
Runs after test_cluster.py (file order); every killed service is started again at the
end of its test, so test_upgrade.py finds the whole cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time

import pytest

from sovctl.probes import Skipped, context
from sovctl.probes import cluster as cluster_checks
from sovctl.probes.keycloak import login, verified_claims
from sovctl.probes.pytest_adapter import probe_run  # noqa: F401 - the fixture

PATRONI = cluster_checks.PATRONI_LIST
WINDOW_S = 30


@pytest.fixture
def say(request):
    """Prints a figure on the terminal, passed or failed (pytest captures what a test
    prints and shows it only when the test fails)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def _say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[ha] {text}")
    return _say


@pytest.fixture(scope="module")
def kcc(probe_run):  # noqa: F811 - the fixture imported above
    try:
        return cluster_checks.kcc(probe_run)
    except Skipped as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def lkc(probe_run):  # noqa: F811
    try:
        return cluster_checks.lkc(probe_run)
    except Skipped as exc:
        pytest.skip(str(exc))


def _hosts(group: str) -> dict:
    names = context.host_names(group)
    if len(names) < 2:
        pytest.skip(f"fewer than two hosts in group {group!r}: nothing to fail over")
    return {n: context.testinfra_host(n) for n in names}


# ---------------------------------------------------------------- PostgreSQL

def _members(hosts: dict, skip: str | None = None) -> list[dict]:
    for name, host in hosts.items():
        if name == skip:
            continue
        out = host.run(PATRONI)
        if out.rc == 0:
            return json.loads(out.stdout)
    return []


def _leader(members: list[dict]) -> str | None:
    found = [m["Member"] for m in members
             if m.get("Role") == "Leader" and m.get("State") == "running"]
    return found[0] if found else None


def _all_run(members: list[dict], hosts: dict) -> bool:
    return len([m for m in members if m.get("State") in ("running", "streaming")]) == len(hosts)


class LoginLoop(threading.Thread):
    """Logs alice in through nginx again and again; every attempt is kept with its time."""

    def __init__(self, kc):
        super().__init__(daemon=True)
        self.kc = kc
        self.stop = threading.Event()
        self.attempts: list[tuple[float, float, str | None]] = []  # started, ended, error

    def run(self):
        deadline = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                token, error = login(self.kc, "alice", self.kc["password"])
                name = verified_claims(self.kc, token)["preferred_username"] if not error else None
                if error is None and name != "alice":
                    error = "the ID token is not alice's"
            except Exception as exc:  # noqa: BLE001 - every failure is a failed login
                error = f"{type(exc).__name__}: {exc}"[:300]
            self.attempts.append((started, time.monotonic(), error))
            time.sleep(0.2)


def _admin_token(kc) -> tuple[str, str]:
    import requests

    inv = context.inventory().hosts[cluster_checks.ID_NODES[0]]
    user = context.resolve(inv, "keycloak_admin_user") or "sovctl-admin"
    password = (context.resolve(inv, "keycloak_admin_password")
                or context.resolve(inv, "vault_keycloak_admin_password"))
    origin = kc["nodes"][cluster_checks.ID_NODES[0]]["origin"]
    answer = requests.post(f"{origin}/realms/master/protocol/openid-connect/token", timeout=60,
                           data={"grant_type": "password", "client_id": "admin-cli",
                                 "username": user, "password": password})
    assert answer.status_code == 200, f"admin token: {answer.status_code} {answer.text[:300]}"
    return origin, answer.json()["access_token"]


def _create_users(kc, count: int) -> dict[str, str]:
    import requests

    origin, token = _admin_token(kc)
    users = {}
    for _ in range(count):
        name, password = f"ha-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
        answer = requests.post(
            f"{origin}/admin/realms/{kc['realm']}/users", timeout=60,
            headers={"Authorization": f"Bearer {token}"},
            json={"username": name, "enabled": True, "email": f"{name}@sandbox.test",
                  "emailVerified": True, "firstName": "Ha", "lastName": name,
                  "credentials": [{"type": "password", "value": password, "temporary": False}]})
        assert answer.status_code == 201, (
            f"creating {name}: {answer.status_code} {answer.text[:300]}")
        users[name] = password
    return users


def test_postgresql_leader_killed_a_new_one_is_elected_and_logins_recover(kcc, say):
    hosts = _hosts("identity_db")
    members = _members(hosts)
    old = _leader(members)
    assert old, f"no running leader: {members}"
    assert _all_run(members, hosts), f"not every member runs before the kill: {members}"
    users = _create_users(kcc, 3)
    for name, password in users.items():
        _, error = login(kcc, name, password)
        assert error is None, f"{name} cannot log in even before the kill: {error}"

    loop = LoginLoop(kcc)
    loop.start()
    time.sleep(5)
    # The leader's host crashes: Patroni and PostgreSQL killed at once (SIGKILL, no clean
    # shutdown, no lock released), and kept down until the test starts them again.
    victim = hosts[old]
    victim.run_expect([0], "systemctl mask --runtime patroni && "
                           "systemctl kill --signal=SIGKILL patroni")
    killed = time.monotonic()
    new, elected = None, None
    try:
        while time.monotonic() - killed < 120:
            new = _leader(_members(hosts, skip=old))
            if new and new != old:
                elected = time.monotonic() - killed
                break
            time.sleep(0.5)
        # Keep logging in for a while after the window to see that every login succeeds.
        while time.monotonic() - killed < WINDOW_S + 25:
            time.sleep(1)
    finally:
        loop.stop.set()
        loop.join(timeout=120)
    failures = [(t - killed, e) for t, _, e in loop.attempts if e is not None]
    after = [(t - killed, e) for t, _, e in loop.attempts if t - killed > WINDOW_S]
    # Logins over before the kill (one under way at the kill may fail: it is in the window).
    before = [e for _, end, e in loop.attempts if end < killed]
    say(f"PostgreSQL: leader {old} killed; {new} elected after "
        f"{elected if elected is None else round(elected, 1)} s; "
        f"logins: {len(loop.attempts)} in all, "
        f"{len(failures)} failed, between {round(failures[0][0], 1) if failures else '-'} and "
        f"{round(failures[-1][0], 1) if failures else '-'} s after the kill; "
        f"{len(after)} after the {WINDOW_S} s window, all to succeed")
    try:
        assert elected is not None and new != old, (
            f"no other member became leader within 120 s of killing {old}: "
            f"{_members(hosts, skip=old)}")
        assert elected <= WINDOW_S, (
            f"{new} was elected {elected:.1f} s after the kill (> {WINDOW_S} s)")
        assert not [e for e in before if e], f"logins failed before the kill: {before}"
        assert len(after) >= 5, f"only {len(after)} logins after the window"
        late = [(round(t, 1), e) for t, e in after if e is not None]
        assert not late, f"logins failed after the {WINDOW_S} s window: {late[:5]}"
        for name, password in users.items():
            _, error = login(kcc, name, password)
            assert error is None, f"{name}, created before the kill, cannot log in: {error}"
    finally:
        # The old leader comes back as a replica of the new one (pg_rewind).
        victim.run_expect([0], "systemctl unmask --runtime patroni && systemctl start patroni")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            members = _members(hosts)
            if _all_run(members, hosts):
                break
            time.sleep(3)
        say(f"PostgreSQL: members after {old} restarted: "
            f"{[(m['Member'], m.get('Role'), m.get('State')) for m in members]}")
    assert _leader(members) == new, f"the leader changed again when {old} came back: {members}"
    assert _all_run(members, hosts), \
        f"{old} did not rejoin as a replica within 180 s: {members}"


# ---------------------------------------------------------------- Redis

def _master(hosts: dict, skip: str | None = None) -> str | None:
    for name, host in hosts.items():
        if name == skip:
            continue
        answer = cluster_checks.sentinel(host, "get-master-addr-by-name sovctl").split()
        if answer:
            return answer[0]
    return None


def test_redis_master_killed_new_participants_meet_within_30_s(lkc, say):
    hosts = _hosts("redis")
    by_address = {context.cached_address_of(n): n for n in hosts}
    old_address = _master(hosts)
    assert old_address in by_address, f"the sentinels name {old_address!r}, not a redis host"
    old = by_address[old_address]
    victim = hosts[old]
    victim.run_expect([0], "systemctl mask --runtime redis-server && "
                           "systemctl kill --signal=SIGKILL redis-server")
    killed = time.monotonic()
    met, promoted, tries, error = None, None, 0, None
    try:
        while time.monotonic() - killed < 90 and met is None:
            tries += 1
            if promoted is None:
                now = _master(hosts, skip=old)
                if now and now != old_address:
                    promoted = time.monotonic() - killed
            room = f"check-ha-{secrets.token_hex(3)}"
            try:
                result = asyncio.run(asyncio.wait_for(
                    cluster_checks._two_nodes_call(lkc, room, seconds=3.0), timeout=20))
                first, second = list(lkc["urls"])[:2]
                if (result[first]["saw"] == [f"via-{second}"]
                        and result[second]["saw"] == [f"via-{first}"]
                        and result[first]["sid"] == result[second]["sid"]):
                    met = time.monotonic() - killed
                else:
                    error = str(result)
            except Exception as exc:  # noqa: BLE001 - the SDK raises its own errors
                error = f"{type(exc).__name__}: {exc}"[:300]
                time.sleep(1)
        say(f"Redis: master {old} killed; replica promoted after "
            f"{promoted if promoted is None else round(promoted, 1)} s; two new participants "
            f"met in a new room {met if met is None else round(met, 1)} s after the kill "
            f"({tries} tries; last error: {error})")
        assert promoted is not None, f"the sentinels promoted no replica of {old} within 90 s"
        assert met is not None, f"no two participants met within 90 s: {error}"
        assert met <= WINDOW_S, f"two new participants met only {met:.1f} s after the kill"
    finally:
        victim.run_expect([0], "systemctl unmask --runtime redis-server && "
                               "systemctl start redis-server")
        # The sentinels see it as a replica again, its link to the new master up.
        deadline = time.monotonic() + 120
        role = ""
        while time.monotonic() < deadline:
            seen = [r for r in cluster_checks.sentinel_replicas(victim)
                    if r.get("ip") == old_address]
            role = (f"{seen[0].get('flags')}, link {seen[0].get('master-link-status')}"
                    if seen else "not among the sentinel's replicas")
            if role == "slave, link ok":
                break
            time.sleep(2)
        say(f"Redis: {old} restarted, role {role!r}")
    assert role == "slave, link ok", f"{old} did not come back as a replica within 120 s ({role})"


# ---------------------------------------------------------------- the meeting app

def test_one_meeting_node_stopped_meetings_are_still_created_and_joined(say):
    import requests

    from sovctl.probes.meet_client import names_resolve_to, post, user_cookie

    hosts = _hosts("meet")
    edges = [n for n in hosts if n in context.host_names("edge")]
    assert edges, "no meet host is an edge"
    edge, stopped = edges[0], edges[0]
    settings = json.loads(hosts[edge].check_output("cat /etc/sovmeet/sovmeet.json"))
    ca = cluster_checks._ca_file(edge)
    with contextlib.ExitStack() as stack:
        verify = stack.enter_context(ca)
        public = settings["public_url"].removeprefix("https://").split("/")[0]
        stack.enter_context(names_resolve_to({public: context.cached_address_of(edge)}))
        meet = {"url": settings["public_url"], "ca": verify, "settings": settings}
        cookie = user_cookie(meet, user_id="hacheck0000000000000")
        hosts[stopped].run_expect([0], "systemctl stop sovmeet")
        try:
            created = post(meet, "/api/rooms", cookie=cookie)
            assert created.status_code in (200, 201), (
                f"POST /api/rooms through {edge}'s edge with sovmeet stopped on {stopped}: "
                f"{created.status_code} {created.text[:300]}")
            room = created.json()["room"]
            grant = post(meet, f"/api/rooms/{room}/token", cookie=cookie)
            assert grant.status_code == 200, (
                f"the join token: {grant.status_code} {grant.text[:300]}")
            rtc = grant.json()["url"].split("://", 1)[1].split("/")[0]
            url = f"https://{rtc}/rtc/validate"
            valid = requests.get(url, params={"access_token": grant.json()["token"]},
                                 verify=verify, timeout=15)
            assert valid.status_code == 200, f"LiveKit refused the join token: {valid.status_code}"
            journal = "journalctl -u sovmeet --since -5min --no-pager -o cat"
            served = [n for n in hosts if n != stopped and room in hosts[n].run(journal).stdout]
            say(f"meet: sovmeet stopped on {stopped}; room {room} created and joined through "
                f"{edge}'s edge (served by {served or 'another node'})")
        finally:
            hosts[stopped].run_expect([0], "systemctl start sovmeet")
            health = f"http://{settings['listen_host']}:{settings['listen_port']}/healthz"
            hosts[stopped].run_expect(
                [0], f"timeout 60 sh -c 'until curl -fsS {health} >/dev/null; do sleep 1; done'")
