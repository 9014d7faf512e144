"""The clients the LiveKit checks use: tokens, a two-party call, its ICE stats, raw
signalling, and what counts as the deployment's own STUN/TURN server.

Not a test module: the checks in ``livekit.py`` and ``cluster.py`` call these. Nothing
here reads the inventory or a host at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from urllib.parse import urlsplit

from sovctl.probes import context

# LiveKit's built-in STUN servers (rtcconfig.DefaultStunServers in LiveKit 1.13): what
# it hands clients when rtc.stun_servers is empty.
PUBLIC_FALLBACK = {"stun.l.google.com", "stun1.l.google.com", "global.stun.twilio.com"}
# Variables in which an inventory names STUN/TURN servers explicitly.
ENDPOINT_VARS = ("livekit_stun_servers", "sov_stun_servers", "livekit_turn_servers")
# Media: what the publisher sends.
VIDEO_FPS = 15
WIDTH, HEIGHT = 320, 240
MEDIA_SECONDS = 6.0


def token(lk, identity: str, room: str, *, secret: str | None = None,
          key: str | None = None) -> str:
    """A join token for ``room``, signed with the deployment's key (``lk["key"]``,
    ``lk["secret"]``) unless another is given."""
    from livekit import api

    return (api.AccessToken(key or lk["key"], secret or lk["secret"])
            .with_identity(identity).with_name(identity)
            .with_grants(api.VideoGrants(room_join=True, room=room))
            .to_jwt())


# ---------------------------------------------------------------- a call between two clients

async def count_frames(stream, counts: dict, kind: str) -> None:
    async for _event in stream:
        counts[kind] += 1
        counts.setdefault(f"first_{kind}", time.monotonic())


async def produce_video(source, stop: asyncio.Event) -> int:
    from livekit import rtc

    sent, shade = 0, 0
    while not stop.is_set():
        shade = (shade + 8) % 256
        data = bytes([shade, 255 - shade, (shade * 3) % 256, 255]) * (WIDTH * HEIGHT)
        source.capture_frame(rtc.VideoFrame(WIDTH, HEIGHT, rtc.VideoBufferType.RGBA, data))
        sent += 1
        await asyncio.sleep(1 / VIDEO_FPS)
    return sent


async def produce_audio(source, stop: asyncio.Event) -> int:
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


async def publish_camera_and_microphone(participant, width: int, height: int, name: str):
    """Publish a video track (as the camera) and a 48 kHz mono audio track (as the
    microphone); return their sources (rtc.VideoSource, rtc.AudioSource) to feed."""
    from livekit import rtc

    video = rtc.VideoSource(width, height)
    audio = rtc.AudioSource(48000, 1)
    await participant.publish_track(
        rtc.LocalVideoTrack.create_video_track(f"{name}-video", video),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA))
    await participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track(f"{name}-audio", audio),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
    return video, audio


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
            readers.append(asyncio.ensure_future(
                count_frames(rtc.VideoStream(track), counts, "video")))
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            readers.append(asyncio.ensure_future(
                count_frames(rtc.AudioStream(track), counts, "audio")))

    stop = asyncio.Event()
    producers: list[asyncio.Task] = []
    try:
        await subscriber.connect(lk["url"], token(lk, f"viewer-{room_name}", room_name), options)
        await publisher.connect(lk["url"], token(lk, f"speaker-{room_name}", room_name), options)
        video, audio = await publish_camera_and_microphone(publisher.local_participant,
                                                           WIDTH, HEIGHT, "synthetic")
        producers = [asyncio.ensure_future(produce_video(video, stop)),
                     asyncio.ensure_future(produce_audio(audio, stop))]
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
    """A publisher and a subscriber in a new room for MEDIA_SECONDS: frames counted, pairs
    in use (ICE restricted to relay candidates when ``relay``)."""
    room = f"check-{'relay' if relay else 'direct'}-{uuid.uuid4().hex[:6]}"
    return asyncio.run(asyncio.wait_for(_call(lk, room, relay), timeout=90))


def report(result: dict) -> str:
    """A call's result as a failure message."""
    shown = {k: v for k, v in result.items() if not k.endswith("_pairs")}
    return json.dumps(shown) + "\n" + json.dumps(
        {"subscriber": result["subscriber_pairs"], "publisher": result["publisher_pairs"]},
        indent=1)


# ---------------------------------------------------------------- STUN/TURN handed out

def host_of(url: str) -> str:
    """The host of stun:h:p, turn:h:p?transport=udp, turns:h:p or h:p."""
    rest = url.split("?", 1)[0]
    if ":" in rest and rest.split(":", 1)[0] in ("stun", "stuns", "turn", "turns"):
        rest = rest.split(":", 1)[1]
    return urlsplit("x://" + rest).hostname or rest


def explicit_endpoint_hosts(lk) -> set[str]:
    """Hosts the inventory names itself (plain values) in its STUN/TURN variables."""
    names: set[str] = set()
    for var in ENDPOINT_VARS:
        value = lk["inv"].vars.get(var)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                item = item.get("host") or item.get("url") or ""
            text = str(item or "")
            if text and "{{" not in text:
                names.add(host_of(text))
    return names


def ours(lk) -> set[str]:
    """The deployment's hosts, their addresses, and the hosts the inventory names."""
    hosts = set(context.inventory().hosts)
    return hosts | {context.cached_address_of(h) for h in hosts} | explicit_endpoint_hosts(lk)


def fallback_allowed(lk) -> bool:
    return str(lk["inv"].vars.get("livekit_allow_public_stun_fallback", "")).lower() == "true"


async def join_response(lk) -> object:
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


# ---------------------------------------------------------------- webhooks

# A webhook receiver run on a test host: appends each request's Authorization header
# and body to the file argv[1], listening on port argv[2].
WEBHOOK_RECEIVER = r"""
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


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
