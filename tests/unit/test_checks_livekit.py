"""Helpers of the LiveKit and Redis checks that need no test host."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from sovctl.probes import livekit_client, redis


@pytest.mark.parametrize(("url", "host"), [
    ("stun:turn1.example.eu:3478", "turn1.example.eu"),
    ("turn:10.88.0.20:3478?transport=udp", "10.88.0.20"),
    ("turns:turn.example.eu:443?transport=tcp", "turn.example.eu"),
    ("stun.l.google.com:19302", "stun.l.google.com"),
    ("stun:[2001:db8::1]:3478", "2001:db8::1"),
])
def test_host_of_ice_urls(url, host):
    assert livekit_client.host_of(url) == host


def _stats(*entries):
    from livekit.rtc._proto import stats_pb2

    out = []
    for kind, sid, fields in entries:
        s = stats_pb2.RtcStats()
        getattr(s, kind).rtc.id = sid
        inner = {"transport": "transport", "candidate_pair": "candidate_pair",
                 "local_candidate": "candidate", "remote_candidate": "candidate"}[kind]
        for key, value in fields.items():
            setattr(getattr(getattr(s, kind), inner), key, value)
        out.append(s)
    return out


def test_selected_candidates_follow_the_transport_to_the_relay():
    from livekit.rtc._proto import stats_pb2

    stats = _stats(
        ("transport", "T1", {"selected_candidate_pair_id": "CP1"}),
        ("candidate_pair", "CP1", {"local_candidate_id": "L1", "remote_candidate_id": "R1",
                                   "nominated": True, "bytes_received": 1200}),
        ("candidate_pair", "CP2", {"local_candidate_id": "L2", "remote_candidate_id": "R1"}),
        ("local_candidate", "L1", {"address": "10.88.0.20", "port": 50000,
                                   "candidate_type": stats_pb2.RELAY,
                                   "url": "turn:10.88.0.20:3478?transport=udp"}),
        ("local_candidate", "L2", {"address": "10.88.0.1", "candidate_type": stats_pb2.HOST}),
        ("remote_candidate", "R1", {"address": "10.88.0.19", "port": 7882,
                                    "candidate_type": stats_pb2.HOST}),
    )
    (pair,) = livekit_client.selected_candidates(stats)
    assert (pair["local_type"], pair["local_address"], pair["remote_address"]) == (
        "RELAY", "10.88.0.20", "10.88.0.19")
    assert pair["bytes_received"] == 1200


def test_resp_replies_are_parsed():
    reader = io.BytesIO(b"+OK\r\n-NOPERM no\r\n:3\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n")
    assert redis._read(reader) == "OK"
    error = redis._read(reader)
    assert isinstance(error, redis.RedisError) and error.startswith("NOPERM")
    assert redis._read(reader) == 3
    assert redis._read(reader) == "hello"
    assert redis._read(reader) is None
    assert redis._read(reader) == ["a", 1]
    assert redis._encode("AUTH", "pw") == b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"


def test_resp_command_over_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        with conn:
            assert conn.recv(1024) == b"*1\r\n$4\r\nPING\r\n"
            conn.sendall(b"-NOAUTH Authentication required.\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    with redis.connect("127.0.0.1", server.getsockname()[1]) as sock:
        reply = redis.command(sock, "PING")
    thread.join(5)
    server.close()
    assert isinstance(reply, redis.RedisError) and reply.startswith("NOAUTH")
