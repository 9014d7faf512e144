"""LiveKit, checked as conferencing clients use it.

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

import pytest

from sovctl.probes import context
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

CONF_HOSTS = context.host_names("conferencing")
pytestmark = pytest.mark.skipif(not CONF_HOSTS, reason="no host in group 'conferencing'")

WEBHOOK_PORT = 8099
# Media: the least the subscriber must count.
MIN_VIDEO_FRAMES = 30
MIN_AUDIO_FRAMES = 200  # 10 ms frames


# ---------------------------------------------------------------- deployment facts

def _edge_for(name: str) -> str:
    edges = [h.name for h in context.hosts("edge")]
    return name if name in edges or not edges else edges[0]


@pytest.fixture(scope="module", params=CONF_HOSTS)
def lk(request):
    inv_host = context.inventory().hosts[request.param]
    edge = _edge_for(request.param)
    hostname = context.resolve(inv_host, "livekit_hostname") or ""
    if not hostname or "{{" in hostname:
        hostname = context.cached_address_of(edge)
    key = context.resolve(inv_host, "livekit_api_key") or context.resolve(
        inv_host, "vault_livekit_api_key")
    secret = context.resolve(inv_host, "livekit_api_secret") or context.resolve(
        inv_host, "vault_livekit_api_secret")
    assert key and secret, f"no LiveKit API key/secret for {request.param} in the inventory"
    with context.ca_bundle(context.internal_ca(context.testinfra_host(edge))) as verify:
        if verify is not True:
            # The SDK's signalling client (rustls with the platform's roots) reads this.
            os.environ["SSL_CERT_FILE"] = verify
        yield {
            "name": request.param,
            "host": context.testinfra_host(request.param),
            "address": context.cached_address_of(request.param),
            "inv": inv_host,
            "url": f"wss://{hostname}",
            "https": f"https://{hostname}",
            "key": str(key),
            "secret": str(secret),
            "verify": verify,
            "turn": {h.name: context.cached_address_of(h.name) for h in context.hosts("turn")},
            "port": int(inv_host.vars.get("livekit_port", 7880)),
            "tcp_port": int(inv_host.vars.get("livekit_rtc_tcp_port", 7881)),
            "prometheus_port": int(inv_host.vars.get("livekit_prometheus_port", 6789)),
            "redis": bool(inv_host.vars.get("livekit_redis_enabled")) or len(CONF_HOSTS) > 1,
        }


# ---------------------------------------------------------------- the checks

def test_livekit_runs_enabled_as_its_own_user_with_a_private_config(lk):
    out = lk["host"].run(
        "systemctl is-active livekit; systemctl is-enabled livekit; "
        "stat -c '%U %G %a' /etc/livekit/config.yaml; ps -o user= -C livekit-server").stdout
    active, enabled, owner, group, mode, *users = out.split()
    assert (active, enabled) == ("active", "enabled"), out
    assert (owner, group) == ("root", "livekit") and int(mode, 8) & 0o007 == 0, out
    assert set(users) == {"livekit"}, out


def test_signalling_and_metrics_are_not_reachable_directly(lk):
    """7880 and prometheus listen on loopback/private addresses: not on the host's address."""
    sockets = lk["host"].check_output("ss -Hltn")
    for port in (lk["port"], lk["prometheus_port"]):
        listening = [line.split()[3].rsplit(":", 1)[0].strip("[]")
                     for line in sockets.splitlines()
                     if line.strip() and line.split()[3].endswith(f":{port}")]
        assert listening, f"nothing listens on {port}"
        assert not [a for a in listening if _unspecified(a)], f"{port} listens on {listening}"
        if lk["address"] not in listening:
            with pytest.raises(OSError), socket.create_connection((lk["address"], port),
                                                                  timeout=3):
                pass


def _unspecified(address: str) -> bool:
    """True for a wildcard listener (every address of the host)."""
    return address == "*" or ipaddress.ip_address(address).is_unspecified


def test_metrics_answer_on_the_private_listener(lk):
    out = lk["host"].check_output(
        "python3 -c \"import urllib.request;print(urllib.request.urlopen("
        f"'http://127.0.0.1:{lk['prometheus_port']}/metrics', timeout=5).read().decode())\"")
    assert "livekit_" in out


def test_ice_tcp_port_is_reachable(lk):
    with socket.create_connection((lk["address"], lk["tcp_port"]), timeout=5):
        pass


def test_plain_http_is_redirected_to_https(lk):
    import requests

    r = requests.get(lk["https"].replace("https://", "http://"), allow_redirects=False,
                     timeout=10)
    assert r.status_code == 301 and r.headers["Location"].startswith("https://")


def test_signalling_is_served_over_tls_by_the_edge(lk):
    import requests

    r = requests.get(lk["https"] + "/", verify=lk["verify"], timeout=10)
    assert r.status_code == 200 and r.text.strip() == "OK"
    assert "max-age=" in r.headers.get("Strict-Transport-Security", "")


def _media_call(lk, relay: bool) -> dict:
    """A call that carried the media both ways: enough frames of video and audio."""
    result = call(lk, relay=relay)
    print(report(result))
    assert result["video_frames"] > MIN_VIDEO_FRAMES, report(result)
    assert result["audio_frames"] > MIN_AUDIO_FRAMES, report(result)
    return result


def test_media_flows_between_two_participants(lk):
    result = _media_call(lk, relay=False)
    pairs = result["subscriber_pairs"] + result["publisher_pairs"]
    assert pairs, "no selected ICE candidate pair in the SDK's stats"
    assert all(p["remote_address"] == lk["address"] for p in pairs), report(result)


def test_media_flows_through_our_turn_relay_only(lk):
    """ICE restricted to relay candidates: the pair in use is a relay on our coturn."""
    if not lk["turn"]:
        pytest.skip("no host in group 'turn'")
    result = _media_call(lk, relay=True)
    pairs = result["subscriber_pairs"] + result["publisher_pairs"]
    assert len(result["subscriber_pairs"]) >= 1 and len(result["publisher_pairs"]) >= 1, \
        report(result)
    turn_addresses = set(lk["turn"].values())
    for pair in pairs:
        assert pair["local_type"] == "RELAY", report(result)
        assert pair["local_address"] in turn_addresses, report(result)
        assert urlsplit("x://" + pair["local_url"].split(":", 1)[-1]).hostname in (
            turn_addresses | set(lk["turn"])), report(result)
        assert pair["bytes_received"] > 0 or pair["bytes_sent"] > 0, report(result)


@pytest.mark.parametrize("case", ["wrong-secret", "unknown-key"])
def test_token_signed_with_another_key_is_refused(lk, case):
    import requests
    from livekit import rtc

    bad = token(lk, "mallory", "check-refused", secret=secrets.token_urlsafe(40),
                key=None if case == "wrong-secret" else "APIunknown")
    r = requests.get(f"{lk['https']}/rtc/validate", params={"access_token": bad},
                     verify=lk["verify"], timeout=10)
    assert r.status_code == 401, r.text

    async def join():
        room = rtc.Room()
        try:
            await room.connect(lk["url"], bad, rtc.RoomOptions(connect_timeout=10))
        finally:
            with contextlib.suppress(Exception):
                await room.disconnect()

    with pytest.raises(rtc.ConnectError):
        asyncio.run(asyncio.wait_for(join(), timeout=60))


def test_valid_token_is_accepted_by_validate(lk):
    import requests

    r = requests.get(f"{lk['https']}/rtc/validate",
                     params={"access_token": token(lk, "alice", "check-valid")},
                     verify=lk["verify"], timeout=10)
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- STUN/TURN handed out

def test_ice_servers_handed_to_clients_are_our_own(lk):
    join = asyncio.run(join_response(lk))
    urls = [u for server in join.ice_servers for u in server.urls]
    assert urls, "LiveKit hands clients no ICE server"
    hosts = {host_of(u) for u in urls}
    if not fallback_allowed(lk):
        assert not hosts & PUBLIC_FALLBACK, f"LiveKit hands out its public fallback: {urls}"
    assert hosts <= ours(lk), f"ICE servers outside the deployment: {sorted(hosts - ours(lk))}"
    turn_addresses = set(lk["turn"].values()) | set(lk["turn"])
    if turn_addresses:
        assert any(u.startswith(("turn:", "turns:")) and host_of(u) in turn_addresses
                   for u in urls), urls
        with_credentials = [s for s in join.ice_servers if any(
            u.startswith(("turn:", "turns:")) for u in s.urls)]
        assert all(s.username and s.credential for s in with_credentials)


def test_rendered_config_names_no_public_stun_or_turn_server(lk):
    import yaml

    conf = yaml.safe_load(lk["host"].check_output("cat /etc/livekit/config.yaml"))
    rtc_conf = conf.get("rtc") or {}
    stun = [host_of(s) for s in rtc_conf.get("stun_servers") or []]
    turn = [str(s.get("host")) for s in rtc_conf.get("turn_servers") or []]
    if not stun:
        assert fallback_allowed(lk), "rtc.stun_servers is empty: LiveKit's public fallback"
    named = set(stun + turn)
    assert not (named & PUBLIC_FALLBACK) or fallback_allowed(lk) or (
        named & PUBLIC_FALLBACK) <= explicit_endpoint_hosts(lk)
    assert named <= ours(lk), f"not ours, not in the inventory: {sorted(named - ours(lk))}"
    assert not (conf.get("turn") or {}).get("enabled"), "LiveKit's embedded TURN is on"
    assert rtc_conf.get("node_ip") and not rtc_conf.get("use_external_ip")


# ---------------------------------------------------------------- Redis and webhooks

def test_node_is_registered_in_redis(lk):
    if not lk["redis"]:
        pytest.skip("single node without Redis (livekit_redis_enabled is false)")
    from sovctl.probes.redis import redis_target, session

    target = redis_target(lk["inv"])
    auth, nodes = session(lk["host"], target["address"], target["port"],
                          ("AUTH", target["password"]), ("HKEYS", "nodes"))
    assert auth == "OK", auth
    assert isinstance(nodes, list) and len(nodes) >= 1, nodes


@pytest.fixture(scope="module")
def webhook_receiver(lk):
    """A receiver on the host named by livekit_webhook_urls (a test host of the inventory)."""
    urls = [u for u in lk["inv"].vars.get("livekit_webhook_urls") or [] if "{{" not in str(u)]
    template = [u for u in lk["inv"].vars.get("livekit_webhook_urls") or []
                if "{{" in str(u)]
    receivers = [h.name for h in context.hosts("turn")]
    if urls or not template or not receivers:
        pytest.skip("no webhook receiver among the test hosts")
    host = context.testinfra_host(receivers[0])
    log = host.check_output("mktemp --suffix=.livekit-webhooks.jsonl")
    started = host.run(f"nohup timeout 300 python3 -c {shell_quote(WEBHOOK_RECEIVER)} {log} "
                       f"{WEBHOOK_PORT} >/dev/null 2>&1 & echo $!")
    pid = int(started.stdout.strip())
    time.sleep(1)
    yield {"host": host, "log": log}
    host.run(f"kill {pid} 2>/dev/null; rm -f {log}")


def test_webhooks_are_signed_with_the_api_key(lk, webhook_receiver):
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
        out = webhook_receiver["host"].run(f"cat {webhook_receiver['log']}").stdout
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        mine = [e for e in events if room in e["body"]]
        if any('"participant_joined"' in e["body"] for e in mine):
            break
        time.sleep(1)
    mine = [e for e in events if room in e["body"]]
    assert mine, f"no webhook for room {room} ({len(events)} received)"
    for event in mine:
        parsed = receiver.receive(event["body"], event["auth"])  # checks signature and sha256
        assert parsed.room.name == room
    forged = hashlib.sha256(b"forged").hexdigest()
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        receiver.receive(mine[0]["body"].replace(room, forged), mine[0]["auth"])
