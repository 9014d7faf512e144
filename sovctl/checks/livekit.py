"""LiveKit, checked as conferencing clients use it.

Two participants (LiveKit's Python SDK) join a room through the nginx edge over wss
with tokens signed by the deployed key; one publishes a synthetic video and audio
track, the other receives them and counts the frames. The same again with ICE
restricted to relay candidates, which must be allocated on our own coturn. Tokens
signed with another key are refused; the ICE servers LiveKit hands to clients and
the STUN/TURN servers in its configuration are the deployment's own (or named
explicitly by the inventory), never LiveKit's public fallback.
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
import tempfile
import time
import uuid
from functools import cache
from urllib.parse import urlsplit

import pytest

from sovctl.checks import context

HAS_INVENTORY = bool(os.environ.get("SOVCTL_VERIFY_INVENTORY")
                     or os.environ.get("MOLECULE_INVENTORY_FILE"))
CONF_HOSTS = [h.name for h in context.hosts("conferencing")] if HAS_INVENTORY else []
pytestmark = pytest.mark.skipif(not CONF_HOSTS, reason="no host in group 'conferencing'")

# LiveKit's built-in STUN servers (rtcconfig.DefaultStunServers in LiveKit 1.13): what
# it hands clients when rtc.stun_servers is empty.
PUBLIC_FALLBACK = {"stun.l.google.com", "stun1.l.google.com", "global.stun.twilio.com"}
# Variables in which an inventory names STUN/TURN servers explicitly.
ENDPOINT_VARS = ("livekit_stun_servers", "sov_stun_servers", "livekit_turn_servers")
WEBHOOK_PORT = 8099
# Media: what the publisher sends and the least the subscriber must count.
VIDEO_FPS = 15
WIDTH, HEIGHT = 320, 240
MEDIA_SECONDS = 6.0
MIN_VIDEO_FRAMES = 30
MIN_AUDIO_FRAMES = 200  # 10 ms frames


# ---------------------------------------------------------------- deployment facts

# Each command on a test host is a round trip through Ansible: ask once, remember.
_address = cache(context.address_of)


def _edge_for(name: str) -> str:
    edges = [h.name for h in context.hosts("edge")]
    return name if name in edges or not edges else edges[0]


@pytest.fixture(scope="module", params=CONF_HOSTS)
def lk(request):
    inv_host = context._inventory().hosts[request.param]
    edge = _edge_for(request.param)
    edge_host = context.testinfra_host(edge)
    hostname = context.resolve(inv_host, "livekit_hostname") or ""
    if not hostname or "{{" in hostname:
        hostname = _address(edge)
    key = context.resolve(inv_host, "livekit_api_key") or context.resolve(
        inv_host, "vault_livekit_api_key")
    secret = context.resolve(inv_host, "livekit_api_secret") or context.resolve(
        inv_host, "vault_livekit_api_secret")
    assert key and secret, f"no LiveKit API key/secret for {request.param} in the inventory"
    ca = edge_host.run("cat /etc/ssl/sovctl/ca.crt")  # the internal CA (tls_mode internal)
    ca_file = None
    if ca.rc == 0 and "BEGIN CERTIFICATE" in ca.stdout:
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as fh:
            fh.write(ca.stdout)
        ca_file = fh.name
        # The SDK's signalling client (rustls with the platform's roots) reads this.
        os.environ["SSL_CERT_FILE"] = ca_file
    yield {
        "name": request.param,
        "host": context.testinfra_host(request.param),
        "address": _address(request.param),
        "inv": inv_host,
        "url": f"wss://{hostname}",
        "https": f"https://{hostname}",
        "key": str(key),
        "secret": str(secret),
        "verify": ca_file or True,
        "turn": {h.name: _address(h.name) for h in context.hosts("turn")},
        "port": int(inv_host.vars.get("livekit_port", 7880)),
        "tcp_port": int(inv_host.vars.get("livekit_rtc_tcp_port", 7881)),
        "prometheus_port": int(inv_host.vars.get("livekit_prometheus_port", 6789)),
        "redis": bool(inv_host.vars.get("livekit_redis_enabled")) or len(CONF_HOSTS) > 1,
    }
    if ca_file:
        os.unlink(ca_file)


def token(lk, identity: str, room: str, *, secret: str | None = None,
          key: str | None = None) -> str:
    from livekit import api

    return (api.AccessToken(key or lk["key"], secret or lk["secret"])
            .with_identity(identity).with_name(identity)
            .with_grants(api.VideoGrants(room_join=True, room=room))
            .to_jwt())


# ---------------------------------------------------------------- a call between two clients

async def _count(stream, counts: dict, kind: str) -> None:
    async for _event in stream:
        counts[kind] += 1
        counts.setdefault(f"first_{kind}", time.monotonic())


async def _produce_video(source, stop: asyncio.Event) -> int:
    from livekit import rtc

    sent, shade = 0, 0
    while not stop.is_set():
        shade = (shade + 8) % 256
        data = bytes([shade, 255 - shade, (shade * 3) % 256, 255]) * (WIDTH * HEIGHT)
        source.capture_frame(rtc.VideoFrame(WIDTH, HEIGHT, rtc.VideoBufferType.RGBA, data))
        sent += 1
        await asyncio.sleep(1 / VIDEO_FPS)
    return sent


async def _produce_audio(source, stop: asyncio.Event) -> int:
    import math

    from livekit import rtc

    sent, phase = 0, 0
    while not stop.is_set():
        frame = rtc.AudioFrame.create(48000, 1, 480)
        samples = frame.data
        for i in range(480):
            samples[i] = int(8000 * math.sin(2 * math.pi * 440 * (phase + i) / 48000))
        phase += 480
        await source.capture_frame(frame)  # paced by the source's queue: real time
        sent += 1
    return sent


def _stats_by_kind(stats: list) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for s in stats:
        kind = s.WhichOneof("stats")
        if kind:
            entry = getattr(s, kind)
            out.setdefault(kind, {})[entry.rtc.id] = entry
    return out


def selected_candidates(stats: list) -> list[dict]:
    """The local and remote candidates of each transport's selected candidate pair."""
    from livekit.rtc._proto import stats_pb2

    by = _stats_by_kind(stats)
    pair_ids = [t.transport.selected_candidate_pair_id
                for t in by.get("transport", {}).values()
                if t.transport.selected_candidate_pair_id]
    if not pair_ids:  # fall back to the nominated, succeeded pairs
        pair_ids = [pid for pid, p in by.get("candidate_pair", {}).items()
                    if p.candidate_pair.nominated]
    found = []
    for pid in pair_ids:
        pair = by.get("candidate_pair", {}).get(pid)
        if pair is None:
            continue
        local = by.get("local_candidate", {}).get(pair.candidate_pair.local_candidate_id)
        remote = by.get("remote_candidate", {}).get(pair.candidate_pair.remote_candidate_id)
        if local is None or remote is None:
            continue
        found.append({
            "local_type": stats_pb2.IceCandidateType.Name(local.candidate.candidate_type),
            "local_address": local.candidate.address,
            "local_port": local.candidate.port,
            "local_url": local.candidate.url,
            "relay_protocol": local.candidate.relay_protocol,
            "remote_type": stats_pb2.IceCandidateType.Name(remote.candidate.candidate_type),
            "remote_address": remote.candidate.address,
            "remote_port": remote.candidate.port,
            "bytes_received": pair.candidate_pair.bytes_received,
            "bytes_sent": pair.candidate_pair.bytes_sent,
        })
    return found


async def _call(lk, room_name: str, relay: bool, seconds: float = MEDIA_SECONDS) -> dict:
    from livekit import rtc

    rtc_config = rtc.RtcConfiguration(
        ice_transport_type=rtc.IceTransportType.TRANSPORT_RELAY) if relay else None
    options = rtc.RoomOptions(auto_subscribe=True, rtc_config=rtc_config, connect_timeout=15)
    counts: dict = {"video": 0, "audio": 0}
    readers: list[asyncio.Task] = []
    subscriber, publisher = rtc.Room(), rtc.Room()

    @subscriber.on("track_subscribed")
    def _subscribed(track, _publication, _participant):
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            readers.append(asyncio.ensure_future(_count(rtc.VideoStream(track), counts, "video")))
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            readers.append(asyncio.ensure_future(_count(rtc.AudioStream(track), counts, "audio")))

    stop = asyncio.Event()
    producers: list[asyncio.Task] = []
    try:
        await subscriber.connect(lk["url"], token(lk, f"viewer-{room_name}", room_name), options)
        await publisher.connect(lk["url"], token(lk, f"speaker-{room_name}", room_name), options)
        video = rtc.VideoSource(WIDTH, HEIGHT)
        audio = rtc.AudioSource(48000, 1)
        await publisher.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("synthetic-video", video),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA))
        await publisher.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("synthetic-audio", audio),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        producers = [asyncio.ensure_future(_produce_video(video, stop)),
                     asyncio.ensure_future(_produce_audio(audio, stop))]
        await asyncio.sleep(seconds)
        received = dict(counts)
        sub_stats = await subscriber.get_rtc_stats()
        pub_stats = await publisher.get_rtc_stats()
        stop.set()
        sent = await asyncio.wait_for(asyncio.gather(*producers), timeout=10)
        return {
            "video_frames": received["video"], "audio_frames": received["audio"],
            "video_sent": sent[0], "audio_sent": sent[1],
            "subscriber_pairs": selected_candidates(
                list(sub_stats.subscriber_stats) + list(sub_stats.publisher_stats)),
            "publisher_pairs": selected_candidates(
                list(pub_stats.publisher_stats) + list(pub_stats.subscriber_stats)),
        }
    finally:
        stop.set()
        for task in producers + readers:
            task.cancel()
        for room in (publisher, subscriber):
            with contextlib.suppress(Exception):
                await room.disconnect()


def call(lk, relay: bool) -> dict:
    room = f"check-{'relay' if relay else 'direct'}-{uuid.uuid4().hex[:6]}"
    return asyncio.run(asyncio.wait_for(_call(lk, room, relay), timeout=90))


def _report(result: dict) -> str:
    shown = {k: v for k, v in result.items() if not k.endswith("_pairs")}
    return json.dumps(shown) + "\n" + json.dumps(
        {"subscriber": result["subscriber_pairs"], "publisher": result["publisher_pairs"]},
        indent=1)


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


def test_media_flows_between_two_participants(lk):
    result = call(lk, relay=False)
    print(_report(result))
    assert result["video_frames"] > MIN_VIDEO_FRAMES, _report(result)
    assert result["audio_frames"] > MIN_AUDIO_FRAMES, _report(result)
    pairs = result["subscriber_pairs"] + result["publisher_pairs"]
    assert pairs, "no selected ICE candidate pair in the SDK's stats"
    assert all(p["remote_address"] == lk["address"] for p in pairs), _report(result)


def test_media_flows_through_our_turn_relay_only(lk):
    """ICE restricted to relay candidates: the pair in use is a relay on our coturn."""
    if not lk["turn"]:
        pytest.skip("no host in group 'turn'")
    result = call(lk, relay=True)
    print(_report(result))
    assert result["video_frames"] > MIN_VIDEO_FRAMES, _report(result)
    assert result["audio_frames"] > MIN_AUDIO_FRAMES, _report(result)
    pairs = result["subscriber_pairs"] + result["publisher_pairs"]
    assert len(result["subscriber_pairs"]) >= 1 and len(result["publisher_pairs"]) >= 1, \
        _report(result)
    turn_addresses = set(lk["turn"].values())
    for pair in pairs:
        assert pair["local_type"] == "RELAY", _report(result)
        assert pair["local_address"] in turn_addresses, _report(result)
        assert urlsplit("x://" + pair["local_url"].split(":", 1)[-1]).hostname in (
            turn_addresses | set(lk["turn"])), _report(result)
        assert pair["bytes_received"] > 0 or pair["bytes_sent"] > 0, _report(result)


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

def _explicit_endpoint_hosts(lk) -> set[str]:
    """Hosts the inventory names itself (plain values) in its STUN/TURN variables."""
    names: set[str] = set()
    for var in ENDPOINT_VARS:
        value = lk["inv"].vars.get(var)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                item = item.get("host") or item.get("url") or ""
            text = str(item or "")
            if text and "{{" not in text:
                names.add(_host_of(text))
    return names


def _host_of(url: str) -> str:
    """The host of stun:h:p, turn:h:p?transport=udp, turns:h:p or h:p."""
    rest = url.split("?", 1)[0]
    if ":" in rest and rest.split(":", 1)[0] in ("stun", "stuns", "turn", "turns"):
        rest = rest.split(":", 1)[1]
    return urlsplit("x://" + rest).hostname or rest


def _ours(lk) -> set[str]:
    inv = context._inventory()
    hosts = set(inv.hosts)
    return hosts | {_address(h) for h in hosts} | _explicit_endpoint_hosts(lk)


def _fallback_allowed(lk) -> bool:
    return str(lk["inv"].vars.get("livekit_allow_public_stun_fallback", "")).lower() == "true"


async def _join_response(lk) -> object:
    """The JoinResponse of a raw signalling connection: what LiveKit tells every client."""
    import ssl

    import aiohttp
    from livekit.protocol import rtc as proto

    ctx = ssl.create_default_context(cafile=lk["verify"] if lk["verify"] is not True else None)
    params = {"access_token": token(lk, f"probe-{uuid.uuid4().hex[:6]}", "check-ice"),
              "protocol": "16", "sdk": "python", "version": "1.0.0", "auto_subscribe": "0"}
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{lk['url']}/rtc", params=params, ssl=ctx, timeout=aiohttp.ClientWSTimeout(
                ws_close=10)) as ws:
        while True:
            msg = await asyncio.wait_for(ws.receive(), timeout=15)
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"unexpected signalling message: {msg.type} {msg.data!r}")
            response = proto.SignalResponse()
            response.ParseFromString(msg.data)
            if response.WhichOneof("message") == "join":
                return response.join


def test_ice_servers_handed_to_clients_are_our_own(lk):
    join = asyncio.run(_join_response(lk))
    urls = [u for server in join.ice_servers for u in server.urls]
    assert urls, "LiveKit hands clients no ICE server"
    hosts = {_host_of(u) for u in urls}
    if not _fallback_allowed(lk):
        assert not hosts & PUBLIC_FALLBACK, f"LiveKit hands out its public fallback: {urls}"
    assert hosts <= _ours(lk), f"ICE servers outside the deployment: {sorted(hosts - _ours(lk))}"
    turn_addresses = set(lk["turn"].values()) | set(lk["turn"])
    if turn_addresses:
        assert any(u.startswith(("turn:", "turns:")) and _host_of(u) in turn_addresses
                   for u in urls), urls
        with_credentials = [s for s in join.ice_servers if any(
            u.startswith(("turn:", "turns:")) for u in s.urls)]
        assert all(s.username and s.credential for s in with_credentials)


def test_rendered_config_names_no_public_stun_or_turn_server(lk):
    import yaml

    conf = yaml.safe_load(lk["host"].check_output("cat /etc/livekit/config.yaml"))
    rtc_conf = conf.get("rtc") or {}
    stun = [_host_of(s) for s in rtc_conf.get("stun_servers") or []]
    turn = [str(s.get("host")) for s in rtc_conf.get("turn_servers") or []]
    if not stun:
        assert _fallback_allowed(lk), "rtc.stun_servers is empty: LiveKit's public fallback"
    named = set(stun + turn)
    assert not (named & PUBLIC_FALLBACK) or _fallback_allowed(lk) or (
        named & PUBLIC_FALLBACK) <= _explicit_endpoint_hosts(lk)
    assert named <= _ours(lk), f"not ours, not in the inventory: {sorted(named - _ours(lk))}"
    assert not (conf.get("turn") or {}).get("enabled"), "LiveKit's embedded TURN is on"
    assert rtc_conf.get("node_ip") and not rtc_conf.get("use_external_ip")


# ---------------------------------------------------------------- Redis and webhooks

def test_node_is_registered_in_redis(lk):
    if not lk["redis"]:
        pytest.skip("single node without Redis (livekit_redis_enabled is false)")
    from sovctl.checks.redis import redis_target, session

    target = redis_target(lk["inv"])
    auth, nodes = session(lk["host"], target["address"], target["port"],
                          ("AUTH", target["password"]), ("HKEYS", "nodes"))
    assert auth == "OK", auth
    assert isinstance(nodes, list) and len(nodes) >= 1, nodes


_RECEIVER = r"""
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()
        with open(sys.argv[1], 'a') as fh:
            fh.write(json.dumps({'auth': self.headers.get('Authorization', ''),
                                 'body': body}) + '\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('0.0.0.0', int(sys.argv[2])), H).serve_forever()
"""


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
    started = host.run(f"nohup timeout 300 python3 -c {_shell_quote(_RECEIVER)} {log} "
                       f"{WEBHOOK_PORT} >/dev/null 2>&1 & echo $!")
    pid = int(started.stdout.strip())
    time.sleep(1)
    yield {"host": host, "log": log}
    host.run(f"kill {pid} 2>/dev/null; rm -f {log}")


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


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
