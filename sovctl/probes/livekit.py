"""LiveKit, probed as conferencing clients use it.

Two participants (LiveKit's Python SDK) join a room through the nginx edge over wss
with tokens signed by the deployed key; one publishes a synthetic video and audio
track, the other receives them and counts the frames. The same again with ICE
restricted to relay candidates, which must be allocated on our own coturn. Tokens
signed with another key are refused; the ICE servers LiveKit hands to clients and
the STUN/TURN servers in its configuration are the deployment's own (or named
explicitly by the inventory), never LiveKit's public fallback.

The clients themselves (tokens, the call, its stats, raw signalling) are in
``livekit_client.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import secrets
import socket
import time
import uuid
from urllib.parse import urlsplit

from sovctl.probes import Failed, Run, Skipped, Suite, context, expect
from sovctl.probes.livekit_client import (
    PUBLIC_FALLBACK,
    WEBHOOK_RECEIVER,
    call,
    explicit_endpoint_hosts,
    fallback_allowed,
    host_of,
    join_response,
    ours,
    report,
    shell_quote,
    token,
)
from sovctl.probes.web import redirects_to_https

suite = Suite("livekit", "conferencing", doc=__doc__)

WEBHOOK_PORT = 8099
# Media: the least the subscriber must count.
MIN_VIDEO_FRAMES = 30
MIN_AUDIO_FRAMES = 200  # 10 ms frames


# ---------------------------------------------------------------- deployment facts

def _edge_for(name: str) -> str:
    edges = [h.name for h in context.hosts("edge")]
    return name if name in edges or not edges else edges[0]


@suite.subject
def lk(run: Run, name: str):
    inv_host = context.inventory().hosts[name]
    edge = _edge_for(name)
    hostname = context.resolve(inv_host, "livekit_hostname") or ""
    if not hostname or "{{" in hostname:
        hostname = context.cached_address_of(edge)
    key = context.resolve(inv_host, "livekit_api_key") or context.resolve(
        inv_host, "vault_livekit_api_key")
    secret = context.resolve(inv_host, "livekit_api_secret") or context.resolve(
        inv_host, "vault_livekit_api_secret")
    expect(key and secret, f"no LiveKit API key/secret for {name} in the inventory")
    saved = os.environ.get("SSL_CERT_FILE")
    with context.ca_bundle(context.internal_ca(context.testinfra_host(edge))) as verify:
        if verify is not True:
            # The SDK's signalling client (rustls with the platform's roots) reads this.
            os.environ["SSL_CERT_FILE"] = verify
        try:
            yield {
                "name": name,
                "host": context.testinfra_host(name),
                "address": context.cached_address_of(name),
                "inv": inv_host,
                "url": f"wss://{hostname}",
                "https": f"https://{hostname}",
                "key": str(key),
                "secret": str(secret),
                "verify": verify,
                "turn": {h.name: context.cached_address_of(h.name)
                         for h in context.hosts("turn")},
                "port": int(inv_host.vars.get("livekit_port", 7880)),
                "tcp_port": int(inv_host.vars.get("livekit_rtc_tcp_port", 7881)),
                "prometheus_port": int(inv_host.vars.get("livekit_prometheus_port", 6789)),
                "redis": (bool(inv_host.vars.get("livekit_redis_enabled"))
                          or len(context.host_names(suite.group)) > 1),
                "run": run,
            }
        finally:
            # The bundle goes with the subject: the process does not keep pointing at it.
            if verify is not True:
                if saved is None:
                    os.environ.pop("SSL_CERT_FILE", None)
                else:
                    os.environ["SSL_CERT_FILE"] = saved


# ---------------------------------------------------------------- the probes

@suite.probe
def livekit_runs_enabled_as_its_own_user_with_a_private_config(lk) -> str:
    out = lk["host"].run(
        "systemctl is-active livekit; systemctl is-enabled livekit; "
        "stat -c '%U %G %a' /etc/livekit/config.yaml; ps -o user= -C livekit-server").stdout
    active, enabled, owner, group, mode, *users = out.split()
    expect((active, enabled) == ("active", "enabled"), out)
    expect((owner, group) == ("root", "livekit") and int(mode, 8) & 0o007 == 0, out)
    expect(set(users) == {"livekit"}, out)
    return (f"livekit active and enabled, runs as livekit; /etc/livekit/config.yaml "
            f"{owner}:{group} mode {mode}")


@suite.probe
def signalling_and_metrics_are_not_reachable_directly(lk) -> str:
    """7880 and prometheus listen on loopback/private addresses: not on the host's address."""
    sockets = lk["host"].check_output("ss -Hltn")
    seen = []
    for port in (lk["port"], lk["prometheus_port"]):
        listening = [line.split()[3].rsplit(":", 1)[0].strip("[]")
                     for line in sockets.splitlines()
                     if line.strip() and line.split()[3].endswith(f":{port}")]
        expect(listening, f"nothing listens on {port}")
        expect(not [a for a in listening if _unspecified(a)], f"{port} listens on {listening}")
        if lk["address"] not in listening:
            try:
                with socket.create_connection((lk["address"], port), timeout=3):
                    pass
            except OSError:
                pass
            else:
                raise Failed(f"{lk['address']}:{port} accepts a connection "
                             f"(listening on {listening})")
        seen.append(f"{port} on {sorted(set(listening))}")
    return "listening: " + ", ".join(seen) + f"; not reachable on {lk['address']}"


def _unspecified(address: str) -> bool:
    """True for a wildcard listener (every address of the host)."""
    return address == "*" or ipaddress.ip_address(address).is_unspecified


@suite.probe
def metrics_answer_on_the_private_listener(lk) -> str:
    out = lk["host"].check_output(
        "python3 -c \"import urllib.request;print(urllib.request.urlopen("
        f"'http://127.0.0.1:{lk['prometheus_port']}/metrics', timeout=5).read().decode())\"")
    expect("livekit_" in out, f"no livekit_ metric at 127.0.0.1:{lk['prometheus_port']}/metrics:"
                              f"\n{out[:500]}")
    return f"127.0.0.1:{lk['prometheus_port']}/metrics serves livekit_ metrics"


@suite.probe
def ice_tcp_port_is_reachable(lk) -> str:
    with socket.create_connection((lk["address"], lk["tcp_port"]), timeout=5):
        pass
    return f"{lk['address']}:{lk['tcp_port']}/tcp accepts connections"


@suite.probe
def plain_http_is_redirected_to_https(lk) -> str:
    return redirects_to_https(lk["https"].replace("https://", "http://"))


@suite.probe
def signalling_is_served_over_tls_by_the_edge(lk) -> str:
    import requests

    r = requests.get(lk["https"] + "/", verify=lk["verify"], timeout=10)
    expect(r.status_code == 200 and r.text.strip() == "OK",
           f"{lk['https']}/ answered {r.status_code} {r.text[:200]!r}")
    hsts = r.headers.get("Strict-Transport-Security", "")
    expect("max-age=" in hsts, f"Strict-Transport-Security is {hsts!r}")
    return f"{lk['https']}/: 200 OK over verified TLS, HSTS {hsts!r}"


def _media_call(lk, relay: bool) -> dict:
    """A call that carried the media both ways: enough frames of video and audio."""
    result = call(lk, relay=relay)
    expect(result["video_frames"] > MIN_VIDEO_FRAMES, report(result))
    expect(result["audio_frames"] > MIN_AUDIO_FRAMES, report(result))
    return result


def _frames(result: dict) -> str:
    return (f"{result['video_frames']} video and {result['audio_frames']} audio frames "
            "received")


@suite.probe
def media_flows_between_two_participants(lk) -> str:
    result = _media_call(lk, relay=False)
    pairs = result["subscriber_pairs"] + result["publisher_pairs"]
    expect(pairs, "no selected ICE candidate pair in the SDK's stats")
    expect(all(p["remote_address"] == lk["address"] for p in pairs), report(result))
    return f"{_frames(result)}; {len(pairs)} ICE pairs, all to {lk['address']}"


@suite.probe
def media_flows_through_our_turn_relay_only(lk) -> str:
    """ICE restricted to relay candidates: the pair in use is a relay on our coturn."""
    if not lk["turn"]:
        raise Skipped("no host in group 'turn'")
    result = _media_call(lk, relay=True)
    pairs = result["subscriber_pairs"] + result["publisher_pairs"]
    expect(len(result["subscriber_pairs"]) >= 1 and len(result["publisher_pairs"]) >= 1,
           report(result))
    turn_addresses = set(lk["turn"].values())
    for pair in pairs:
        expect(pair["local_type"] == "RELAY", report(result))
        expect(pair["local_address"] in turn_addresses, report(result))
        expect(urlsplit("x://" + pair["local_url"].split(":", 1)[-1]).hostname in (
            turn_addresses | set(lk["turn"])), report(result))
        expect(pair["bytes_received"] > 0 or pair["bytes_sent"] > 0, report(result))
    relays = sorted({p["local_address"] for p in pairs})
    return f"{_frames(result)}; {len(pairs)} ICE pairs, all RELAY on {relays}"


@suite.probe(params={case: {"case": case} for case in ("wrong-secret", "unknown-key")})
def token_signed_with_another_key_is_refused(lk, case: str) -> str:
    import requests
    from livekit import rtc

    bad = token(lk, "mallory", "check-refused", secret=secrets.token_urlsafe(40),
                key=None if case == "wrong-secret" else "APIunknown")
    r = requests.get(f"{lk['https']}/rtc/validate", params={"access_token": bad},
                     verify=lk["verify"], timeout=10)
    expect(r.status_code == 401, f"/rtc/validate answered {r.status_code}: {r.text}")

    async def join():
        room = rtc.Room()
        try:
            await room.connect(lk["url"], bad, rtc.RoomOptions(connect_timeout=10))
        finally:
            with contextlib.suppress(Exception):
                await room.disconnect()

    try:
        asyncio.run(asyncio.wait_for(join(), timeout=60))
    except rtc.ConnectError as exc:
        return f"{case}: /rtc/validate 401, join refused ({exc})"
    raise Failed(f"a token with a {case} joined a room")


@suite.probe
def valid_token_is_accepted_by_validate(lk) -> str:
    import requests

    r = requests.get(f"{lk['https']}/rtc/validate",
                     params={"access_token": token(lk, "alice", "check-valid")},
                     verify=lk["verify"], timeout=10)
    expect(r.status_code == 200, f"/rtc/validate answered {r.status_code}: {r.text}")
    return "/rtc/validate: 200 for a token signed with the deployed key"


# ---------------------------------------------------------------- STUN/TURN handed out

@suite.probe
def ice_servers_handed_to_clients_are_our_own(lk) -> str:
    join = asyncio.run(join_response(lk))
    urls = [u for server in join.ice_servers for u in server.urls]
    expect(urls, "LiveKit hands clients no ICE server")
    hosts = {host_of(u) for u in urls}
    if not fallback_allowed(lk):
        expect(not hosts & PUBLIC_FALLBACK, f"LiveKit hands out its public fallback: {urls}")
    expect(hosts <= ours(lk), f"ICE servers outside the deployment: {sorted(hosts - ours(lk))}")
    turn_addresses = set(lk["turn"].values()) | set(lk["turn"])
    if turn_addresses:
        expect(any(u.startswith(("turn:", "turns:")) and host_of(u) in turn_addresses
                   for u in urls), f"no TURN server of ours among {urls}")
        with_credentials = [s for s in join.ice_servers if any(
            u.startswith(("turn:", "turns:")) for u in s.urls)]
        expect(all(s.username and s.credential for s in with_credentials),
               f"a TURN server is handed out without credentials: {urls}")
    return f"ICE servers handed out: {urls}"


@suite.probe
def rendered_config_names_no_public_stun_or_turn_server(lk) -> str:
    import yaml

    conf = yaml.safe_load(lk["host"].check_output("cat /etc/livekit/config.yaml"))
    rtc_conf = conf.get("rtc") or {}
    stun = [host_of(s) for s in rtc_conf.get("stun_servers") or []]
    turn = [str(s.get("host")) for s in rtc_conf.get("turn_servers") or []]
    if not stun:
        expect(fallback_allowed(lk), "rtc.stun_servers is empty: LiveKit's public fallback")
    named = set(stun + turn)
    expect(not (named & PUBLIC_FALLBACK) or fallback_allowed(lk) or (
        named & PUBLIC_FALLBACK) <= explicit_endpoint_hosts(lk),
        f"the configuration names LiveKit's public fallback: {sorted(named & PUBLIC_FALLBACK)}")
    expect(named <= ours(lk), f"not ours, not in the inventory: {sorted(named - ours(lk))}")
    expect(not (conf.get("turn") or {}).get("enabled"), "LiveKit's embedded TURN is on")
    expect(rtc_conf.get("node_ip") and not rtc_conf.get("use_external_ip"),
           f"rtc.node_ip is {rtc_conf.get('node_ip')!r}, rtc.use_external_ip is "
           f"{rtc_conf.get('use_external_ip')!r}")
    return (f"STUN {stun}, TURN {turn}; embedded TURN off, node_ip {rtc_conf['node_ip']}, "
            "no use_external_ip")


# ---------------------------------------------------------------- Redis and webhooks

@suite.probe
def node_is_registered_in_redis(lk) -> str:
    if not lk["redis"]:
        raise Skipped("single node without Redis (livekit_redis_enabled is false)")
    from sovctl.probes.redis import redis_target, session

    target = redis_target(lk["inv"])
    auth, nodes = session(lk["host"], target["address"], target["port"],
                          ("AUTH", target["password"]), ("HKEYS", "nodes"))
    expect(auth == "OK", f"AUTH answered {auth!r}")
    expect(isinstance(nodes, list) and len(nodes) >= 1, f"HKEYS nodes answered {nodes!r}")
    return f"{len(nodes)} node(s) in Redis at {target['address']}:{target['port']}"


@contextlib.contextmanager
def webhook_receiver(lk):
    """A receiver on the host named by livekit_webhook_urls (a test host of the inventory)."""
    urls = [u for u in lk["inv"].vars.get("livekit_webhook_urls") or [] if "{{" not in str(u)]
    template = [u for u in lk["inv"].vars.get("livekit_webhook_urls") or []
                if "{{" in str(u)]
    receivers = [h.name for h in context.hosts("turn")]
    if urls or not template or not receivers:
        raise Skipped("no webhook receiver among the test hosts")
    host = context.testinfra_host(receivers[0])
    log = host.check_output("mktemp --suffix=.livekit-webhooks.jsonl")
    started = host.run(f"nohup timeout 300 python3 -c {shell_quote(WEBHOOK_RECEIVER)} {log} "
                       f"{WEBHOOK_PORT} >/dev/null 2>&1 & echo $!")
    pid = int(started.stdout.strip())
    time.sleep(1)
    try:
        yield {"host": host, "log": log}
    finally:
        host.run(f"kill {pid} 2>/dev/null; rm -f {log}")


@suite.probe
def webhooks_are_signed_with_the_api_key(lk) -> str:
    run = lk["run"]
    receiver_on = run.once((suite.service, "webhook_receiver", lk["name"]),
                           lambda: run.enter(webhook_receiver(lk)))
    from livekit import api

    room = f"check-webhook-{uuid.uuid4().hex[:6]}"

    async def visit():
        from livekit import rtc

        r = rtc.Room()
        await r.connect(lk["url"], token(lk, "visitor", room), rtc.RoomOptions(connect_timeout=15))
        await asyncio.sleep(1)
        await r.disconnect()

    asyncio.run(asyncio.wait_for(visit(), timeout=60))
    receiver = api.WebhookReceiver(api.TokenVerifier(lk["key"], lk["secret"]))
    events: list = []
    for _ in range(30):
        out = receiver_on["host"].run(f"cat {receiver_on['log']}").stdout
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        mine = [e for e in events if room in e["body"]]
        if any('"participant_joined"' in e["body"] for e in mine):
            break
        time.sleep(1)
    mine = [e for e in events if room in e["body"]]
    expect(mine, f"no webhook for room {room} ({len(events)} received)")
    for event in mine:
        parsed = receiver.receive(event["body"], event["auth"])  # checks signature and sha256
        expect(parsed.room.name == room, f"a webhook for {room} names room {parsed.room.name}")
    forged = hashlib.sha256(b"forged").hexdigest()
    try:
        receiver.receive(mine[0]["body"].replace(room, forged), mine[0]["auth"])
    except Exception:  # noqa: BLE001 - any refusal will do
        return f"{len(mine)} webhook(s) for {room} verified; a forged body is refused"
    raise Failed("a webhook body changed after signing was accepted")
