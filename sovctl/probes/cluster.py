"""A multi-node deployment, probed across its nodes.

Keycloak: a login started on one node is finished on the other (the login session
lives in the cluster's distributed cache, nowhere else), the session it opens is
refreshed and used on the other node and ended there by a logout on the first, and
the nodes form one JGroups view. LiveKit: two participants in one room, one connected
through each node's own edge, each receives the other's video (the room lives on one
node; the other relays its participant's signalling through Redis). The cluster ports
are open to the peers only.

The probes look at the deployment as a whole, not host by host: they run once per
inventory, on the pseudo-host ``cluster``, when it has at least two Keycloak or two
LiveKit nodes. The Keycloak nodes (``kcc``) and the LiveKit nodes (``lkc``) are made
once per run, for the probes that need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field

from sovctl.probes import Run, Skipped, Suite, context, expect
from sovctl.probes.keycloak import login, verified_claims
from sovctl.probes.livekit_client import HEIGHT, WIDTH, count_frames, produce_video, token

CLUSTER = "cluster"  # the one pseudo-host the probes run on
# The Keycloak nodes of the inventory named at import time, for the molecule tests that
# name them (test_upgrade.py); the probes read the run's own inventory.
ID_NODES = context.host_names("identity")
CLIENT_ID = "sovctl-check"

_address = context.cached_address_of


def targets() -> list[str]:
    """The pseudo-host ``cluster`` when there are two Keycloak or two LiveKit nodes."""
    if len(context.host_names("identity")) >= 2 or len(context.host_names("conferencing")) >= 2:
        return [CLUSTER]
    return []


suite = Suite("cluster", "identity", doc=__doc__, targets=targets)


@dataclass(frozen=True)
class Cluster:
    """What every probe receives: the run, from which the Keycloak and LiveKit nodes are
    made (once) when a probe first asks for them."""

    name: str
    run: Run = field(repr=False)

    @property
    def kcc(self) -> dict:
        return kcc(self.run)

    @property
    def lkc(self) -> dict:
        return lkc(self.run)


@suite.subject
def cluster(run: Run, name: str) -> Cluster:
    return Cluster(name, run)


def _ca_file(host_name: str):
    """``verify`` for requests to ``host_name``'s edge: its internal CA, for the block."""
    return context.ca_bundle(context.internal_ca(context.testinfra_host(host_name)))


def _port_open(from_host, address: str, port: int) -> bool:
    return from_host.run(f"timeout 5 bash -c '</dev/tcp/{address}/{port}'").rc == 0


# ---------------------------------------------------------------- Keycloak

def kcc(run: Run) -> dict:
    """The Keycloak cluster (its nodes, the edge's issuer and CA, the test user's password),
    made once per run; Skipped with fewer than two nodes."""
    return run.once((CLUSTER, "kcc"), lambda: _keycloak_cluster(run))


def _keycloak_cluster(run: Run) -> dict:
    id_nodes = context.host_names("identity")
    if len(id_nodes) < 2:
        raise Skipped(f"fewer than two hosts in group 'identity' ({id_nodes})")
    inv = context.inventory().hosts
    edges = [h.name for h in context.hosts("edge") if h.name in id_nodes]
    expect(edges, "no identity host is also in group 'edge' (nginx in front of Keycloak)")
    realm = inv[id_nodes[0]].vars.get("keycloak_realm", "sov")
    base = f"https://{_address(edges[0])}"
    port = int(inv[id_nodes[0]].vars.get("keycloak_http_port", 8080))
    # The first login page a node renders compiles its theme: slow on a busy machine, so
    # each node renders one before the probes (whose requests have short timeouts).
    import requests

    for n in id_nodes:
        requests.get(f"http://{_address(n)}:{port}/realms/{realm}/protocol/openid-connect/auth",
                     params={"client_id": CLIENT_ID, "response_type": "code", "scope": "openid",
                             "redirect_uri": "http://127.0.0.1:8765/callback",
                             "code_challenge_method": "S256", "code_challenge": "x" * 43},
                     allow_redirects=False, timeout=120)
    verify = run.enter(_ca_file(edges[0]))
    return {
        "base": base, "issuer": f"{base}/realms/{realm}", "realm": realm, "verify": verify,
        "password": context.resolve(inv[id_nodes[0]], "vault_sandbox_user_password"),
        "nodes": {n: {"host": context.testinfra_host(n), "address": _address(n),
                      "origin": f"http://{_address(n)}:{port}"} for n in id_nodes},
        "port": port,
        "management_port": int(inv[id_nodes[0]].vars.get("keycloak_management_port", 9000)),
        "cluster_port": int(inv[id_nodes[0]].vars.get("keycloak_cluster_port", 7800)),
    }


def _pairs(id_nodes: list[str] | None = None) -> list[tuple[str, str]]:
    nodes = context.host_names("identity") if id_nodes is None else id_nodes
    return [(a, b) for a in nodes for b in nodes if a != b][:2]


@suite.probe
def keycloak_nodes_form_one_cluster_view(cluster: Cluster) -> str:
    """Each node's last Infinispan view (ISPN000093/94) lists every node."""
    kc = cluster.kcc
    views = []
    for name, node in kc["nodes"].items():
        log = node["host"].run("journalctl -u keycloak --no-pager -o cat | "
                               "grep -E 'ISPN00009[34]' | tail -1").stdout
        found = re.search(r"\((\d+)\) \[([^\]]*)\]", log)
        expect(found, f"{name}: no cluster view in Keycloak's journal: {log!r}")
        expect(int(found.group(1)) == len(kc["nodes"]), f"{name}: {log.strip()}")
        views.append(f"{name}: ({found.group(1)}) [{found.group(2)}]")
    return "last cluster views: " + "; ".join(views)


@suite.probe(params=lambda _host: {f"{a}-to-{b}": {"pair": (a, b)} for a, b in _pairs()})
def login_started_on_one_node_is_finished_on_the_other(
        cluster: Cluster, pair: tuple[str, str] | None = None) -> str:
    """The authorization request on node A, the login form to node B, the code back to A.

    The login (authentication) session is only in the distributed cache: without a
    cluster, node B does not know it and answers with an error page, not a code.
    """
    kc = cluster.kcc  # with fewer than two nodes there is no pair: this skips first
    a, b = (kc["nodes"][n]["origin"] for n in pair)
    tok, error = login(kc, "alice", kc["password"], start=a, submit=b, exchange=a)
    expect(error is None,
           f"node {pair[1]} did not finish the login started on {pair[0]}: {error}")
    claims = verified_claims(kc, tok)
    expect(claims["preferred_username"] == "alice",
           f"the ID token is {claims['preferred_username']!r}'s, not alice's")
    expect(claims["nonce"] == tok["nonce"],
           f"the ID token's nonce {claims['nonce']!r} is not the request's {tok['nonce']!r}")
    return (f"login started on {pair[0]}, form submitted to {pair[1]}, code exchanged on "
            f"{pair[0]}: ID token verified (alice, nonce matches)")


def _refresh(kc, origin: str, refresh_token: str):
    import requests

    return requests.post(
        f"{origin}/realms/{kc['realm']}/protocol/openid-connect/token", timeout=15,
        data={"grant_type": "refresh_token", "client_id": CLIENT_ID,
              "refresh_token": refresh_token})


@suite.probe
def session_from_one_node_is_used_and_ended_on_the_other(cluster: Cluster) -> str:
    """Log in on A; B refreshes the session and serves userinfo; a logout on A ends it on B."""
    import requests

    kc = cluster.kcc
    a_name, b_name = _pairs(list(kc["nodes"]))[0]
    a, b = kc["nodes"][a_name]["origin"], kc["nodes"][b_name]["origin"]
    tok, error = login(kc, "alice", kc["password"], start=a, submit=a, exchange=a)
    expect(error is None, f"login on {a_name}: {error}")

    refreshed = _refresh(kc, b, tok["refresh_token"])
    expect(refreshed.status_code == 200, f"{b_name} refused {a_name}'s session: {refreshed.text}")
    fresh = refreshed.json()
    info = requests.get(f"{b}/realms/{kc['realm']}/protocol/openid-connect/userinfo",
                        headers={"Authorization": f"Bearer {fresh['access_token']}"}, timeout=15)
    expect(info.status_code == 200 and info.json()["preferred_username"] == "alice",
           f"userinfo on {b_name}: {info.status_code} {info.text}")

    out = requests.post(f"{a}/realms/{kc['realm']}/protocol/openid-connect/logout", timeout=15,
                        data={"client_id": CLIENT_ID, "refresh_token": fresh["refresh_token"]})
    expect(out.status_code in (200, 204), f"logout on {a_name}: {out.status_code} {out.text}")
    after = _refresh(kc, b, fresh["refresh_token"])
    expect(after.status_code == 400 and after.json().get("error") == "invalid_grant",
           f"{b_name} still refreshes a session ended on {a_name}: {after.status_code} "
           f"{after.text}")
    return (f"{b_name} refreshed {a_name}'s session and served userinfo (alice); after a "
            f"logout on {a_name}, {b_name} answers a refresh with 400 invalid_grant")


@suite.probe
def edge_balances_and_fails_over_between_the_nodes(cluster: Cluster) -> str:
    """With one node stopped, logins through nginx keep working on the other."""
    import requests

    kc = cluster.kcc
    stopped = list(kc["nodes"])[-1]
    node = kc["nodes"][stopped]
    node["host"].run_expect([0], "systemctl stop keycloak")
    try:
        for _ in range(4):
            r = requests.get(f"{kc['issuer']}/.well-known/openid-configuration",
                             verify=kc["verify"], timeout=15)
            expect(r.status_code == 200, f"nginx answered {r.status_code} with {stopped} down")
        tok, error = login(kc, "alice", kc["password"])
        expect(error is None, f"login through nginx with {stopped} down: {error}")
    finally:
        node["host"].run_expect([0], "systemctl start keycloak")
        node["host"].run_expect(
            [0], f"timeout 300 sh -c 'until curl -fsS http://{node['address']}:"
            f"{kc['management_port']}/health/ready >/dev/null; do sleep 3; done'")
    return (f"with {stopped} stopped: discovery served 4 times and a login completed "
            f"through nginx; {stopped} started and ready again")


@suite.probe
def cluster_ports_are_open_to_the_peers_only(cluster: Cluster) -> str:
    """JGroups, HTTP and management of a node: open from the other node, closed elsewhere."""
    kc = cluster.kcc
    db_hosts = {x.name for x in context.hosts("identity_db")}
    # The meet hosts reach the database too (the meeting app's rooms): not outsiders.
    db_clients = {x.name for x in context.hosts("meet")}
    outsiders = [name for name in sorted(context.inventory().hosts)
                 if name not in kc["nodes"] and name not in db_hosts | db_clients]
    if not outsiders:
        raise Skipped("no host outside the cluster to test reachability from")
    outsider = context.testinfra_host(outsiders[0])
    a_name, b_name = _pairs(list(kc["nodes"]))[0]
    peer, target = kc["nodes"][a_name]["host"], kc["nodes"][b_name]["address"]
    ports = (kc["cluster_port"], kc["port"], kc["management_port"])
    for port in ports:
        expect(_port_open(peer, target, port), f"{b_name}:{port} closed to its peer {a_name}")
        expect(not _port_open(outsider, target, port),
               f"{b_name}:{port} is reachable from {outsiders[0]}, which is not a cluster node")
    for db in context.hosts("identity_db"):
        expect(_port_open(peer, _address(db.name), 5432), f"{db.name}:5432 closed to {a_name}")
        expect(not _port_open(outsider, _address(db.name), 5432),
               f"{db.name}:5432 is reachable from {outsiders[0]}")
    return (f"{b_name} ports {', '.join(map(str, ports))} open to {a_name}, closed to "
            f"{outsiders[0]}; 5432 of {sorted(db_hosts)} likewise")


# ---------------------------------------------------------------- LiveKit

def lkc(run: Run) -> dict:
    """The LiveKit nodes (their wss URLs) and the deployment's API key, made once per run;
    Skipped with fewer than two nodes."""
    return run.once((CLUSTER, "lkc"), lambda: _livekit_cluster(run))


def _livekit_cluster(run: Run) -> dict:
    lk_nodes = context.host_names("conferencing")
    if len(lk_nodes) < 2:
        raise Skipped(f"fewer than two hosts in group 'conferencing' ({lk_nodes})")
    inv = context.inventory().hosts[lk_nodes[0]]
    key = context.resolve(inv, "livekit_api_key") or context.resolve(inv, "vault_livekit_api_key")
    secret = context.resolve(inv, "livekit_api_secret") or context.resolve(
        inv, "vault_livekit_api_secret")
    expect(key and secret, "no LiveKit API key/secret in the inventory")
    verify = run.enter(_ca_file(lk_nodes[0]))
    if verify is not True:
        os.environ["SSL_CERT_FILE"] = verify  # the SDK's signalling client reads it
    return {"key": str(key), "secret": str(secret), "inv": inv,
            "urls": {n: f"wss://{_address(n)}" for n in lk_nodes}}


@suite.probe
def both_livekit_nodes_are_registered_in_redis(cluster: Cluster) -> str:
    from sovctl.probes.redis import redis_target, session

    lk = cluster.lkc
    lk_nodes = list(lk["urls"])
    target = redis_target(lk["inv"])
    auth, nodes = session(context.testinfra_host(lk_nodes[0]), target["address"],
                          target["port"], ("AUTH", target["password"]), ("HKEYS", "nodes"))
    expect(auth == "OK", f"Redis answered AUTH with {auth!r}")
    expect(isinstance(nodes, list) and len(nodes) >= len(lk_nodes),
           f"Redis hash 'nodes' holds {nodes!r}, {len(lk_nodes)} LiveKit nodes expected")
    return f"Redis hash 'nodes' holds {len(nodes)} LiveKit nodes ({len(lk_nodes)} expected)"


async def _two_nodes_call(lk, room_name: str, seconds: float = 6.0) -> dict:
    from livekit import rtc

    options = rtc.RoomOptions(auto_subscribe=True, connect_timeout=15)
    names = list(lk["urls"])[:2]
    rooms = {n: rtc.Room() for n in names}
    counts: dict[str, dict] = {n: {"video": 0} for n in names}
    seen: dict[str, set] = {n: set() for n in names}
    tasks: list[asyncio.Task] = []
    stop = asyncio.Event()

    for name, room in rooms.items():
        def _subscribed(track, _pub, participant, name=name):
            seen[name].add(participant.identity)
            if track.kind == rtc.TrackKind.KIND_VIDEO:
                tasks.append(asyncio.ensure_future(
                    count_frames(rtc.VideoStream(track), counts[name], "video")))
        room.on("track_subscribed", _subscribed)
    try:
        for name, room in rooms.items():
            await room.connect(lk["urls"][name], token(lk, f"via-{name}", room_name), options)
        for room in rooms.values():
            source = rtc.VideoSource(WIDTH, HEIGHT)
            await room.local_participant.publish_track(
                rtc.LocalVideoTrack.create_video_track("synthetic-video", source),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA))
            tasks.append(asyncio.ensure_future(produce_video(source, stop)))
        await asyncio.sleep(seconds)
        return {n: {"frames_received": counts[n]["video"], "saw": sorted(seen[n]),
                    "sid": await rooms[n].sid} for n in names}
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for room in rooms.values():
            with contextlib.suppress(Exception):
                await room.disconnect()


@suite.probe
def room_spans_both_livekit_nodes(cluster: Cluster) -> str:
    """One participant through each node's edge, one room: each sees the other's video."""
    lk = cluster.lkc
    # A node that has not refreshed its load report in Redis lately (a busy test machine)
    # counts as unavailable and refuses the join with 500: one more try after a pause.
    for attempt in (1, 2):
        room = f"check-cluster-{uuid.uuid4().hex[:6]}"
        try:
            result = asyncio.run(asyncio.wait_for(_two_nodes_call(lk, room), timeout=90))
            break
        except Exception:  # the SDK raises its own ConnectError
            if attempt == 2:
                raise
            time.sleep(20)
    first, second = list(lk["urls"])[:2]
    expect(result[first]["saw"] == [f"via-{second}"], str(result))
    expect(result[second]["saw"] == [f"via-{first}"], str(result))
    expect(result[first]["sid"] == result[second]["sid"], f"two rooms, not one: {result}")
    for name in (first, second):
        expect(result[name]["frames_received"] > 30, str(result))
    return (f"one room {result[first]['sid']}: {first} received "
            f"{result[first]['frames_received']} video frames from via-{second}, {second} "
            f"received {result[second]['frames_received']} from via-{first}")


# ---------------------------------------------------------------- state: PostgreSQL, Redis

PATRONI_LIST = "patronictl -c /etc/patroni/config.yml list -f json"


def _outsider(*inside: set[str]):
    """A host of the inventory in none of ``inside`` (to test that ports are closed to it)."""
    names = [n for n in sorted(context.inventory().hosts) if not any(n in s for s in inside)]
    return (names[0], context.testinfra_host(names[0])) if names else (None, None)


@suite.probe
def database_members_have_one_leader_and_streaming_replicas(cluster: Cluster) -> str:
    """Under Patroni: one running leader, every other member streaming from it; etcd and
    the REST API open to the members, closed to other hosts."""
    members = [h.name for h in context.hosts("identity_db")]
    if len(members) < 3:
        raise Skipped(f"fewer than three hosts in group 'identity_db' ({members}): no Patroni")
    hosts = {n: context.testinfra_host(n) for n in members}
    listed = None
    for host in hosts.values():
        out = host.run(PATRONI_LIST)
        if out.rc == 0:
            listed = json.loads(out.stdout)
            break
    expect(listed, f"patronictl answered on none of {members}")
    leaders = [m["Member"] for m in listed if m.get("Role") == "Leader"
               and m.get("State") == "running"]
    expect(len(leaders) == 1, f"not one running leader: {listed}")
    replicas = {m["Member"]: m.get("State") for m in listed if m["Member"] not in leaders}
    expect(sorted([*leaders, *replicas]) == sorted(members), f"members: {listed}")
    expect(set(replicas.values()) == {"streaming"}, f"replicas not streaming: {replicas}")
    outsider_name, outsider = _outsider(set(members))
    a, b = members[0], members[1]
    for port in (2379, 2380, 8008):
        expect(_port_open(hosts[a], _address(b), port), f"{b}:{port} closed to the member {a}")
        if outsider is not None:
            expect(not _port_open(outsider, _address(b), port),
                   f"{b}:{port} is reachable from {outsider_name}, not a database member")
    return (f"leader {leaders[0]}, replicas {sorted(replicas)} streaming; etcd and Patroni's "
            f"API open to the members, closed to {outsider_name}")


# The sentinels' password is read on each host from its own sentinel.conf: it never travels
# in a command line, where a process list or a failed command's report would show it.
SENTINEL_ASK = ("REDISCLI_AUTH=\"$(awk '$1 == \"requirepass\" {gsub(/\"/, \"\", $2); print $2}' "
                "/etc/redis/sentinel.conf)\" redis-cli -h 127.0.0.1 -p 26379 --raw sentinel ")


def sentinel(host, command: str) -> str:
    """What the sentinel of ``host`` answers to ``SENTINEL <command>`` (raw lines)."""
    return host.run(SENTINEL_ASK + command).stdout


def sentinel_replicas(host, master: str = "sovctl") -> list[dict]:
    """The replicas ``host``'s sentinel knows, one dict of its fields each."""
    replicas, current = [], None
    lines = sentinel(host, f"replicas {master}").splitlines()
    for key, value in zip(lines[::2], lines[1::2], strict=False):
        if key == "name":
            current = {}
            replicas.append(current)
        if current is not None:
            current[key] = value
    return replicas


@suite.probe
def sentinels_agree_on_the_redis_master_and_know_every_replica(cluster: Cluster) -> str:
    """Under Sentinel: every sentinel names the same master, with every other member as
    its replica and every other sentinel known."""
    members = [h.name for h in context.hosts("redis")]
    if len(members) < 3:
        raise Skipped(f"fewer than three hosts in group 'redis' ({members}): no Sentinel")
    masters, views = set(), {}
    for name in members:
        host = context.testinfra_host(name)
        address = sentinel(host, "get-master-addr-by-name sovctl").split()
        expect(address, f"{name}: its sentinel names no master")
        masters.add(address[0])
        fields = sentinel(host, "master sovctl").split()
        info = dict(zip(fields[::2], fields[1::2], strict=False))
        views[name] = (info.get("num-slaves"), info.get("num-other-sentinels"), info.get("flags"))
    expect(len(masters) == 1, f"the sentinels name different masters: {masters}")
    others = str(len(members) - 1)
    expect(all(v[0] == others and v[1] == others and v[2] == "master" for v in views.values()),
           f"(replicas, other sentinels, flags) per sentinel, {others} of each expected: {views}")
    return (f"every sentinel names master {masters.pop()} with {others} replicas and {others} "
            "other sentinels")


# ---------------------------------------------------------------- coturn

@suite.probe
def every_turn_relay_allocates(cluster: Cluster) -> str:
    """Each relay of the `turn` group grants an allocation with the deployment's secret."""
    from sovctl.probes.turnclient import allocate, rest_credentials

    relays = context.hosts("turn")
    if len(relays) < 2:
        raise Skipped(f"fewer than two hosts in group 'turn' ({[h.name for h in relays]})")
    for relay in relays:
        secret = context.resolve(relay, "coturn_static_auth_secret") or context.resolve(
            relay, "vault_coturn_static_auth_secret")
        user, password = rest_credentials(str(secret))
        port = int(relay.vars.get("coturn_listening_port", 3478))
        answer = allocate(_address(relay.name), port, user, password)
        expect(answer == (200, ""), f"{relay.name}: Allocate answered {answer}")
    return f"Allocate with REST credentials: 200 on {[h.name for h in relays]}"
