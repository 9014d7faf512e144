"""The meeting app's rooms, lobby and moderation (roles/meet/files/sovmeet/meetings.py).

Keycloak and LiveKit's server API are in-process doubles on the app's HTTP client; the
browser flow against the real ones is molecule/stack's (sovctl/probes/meet.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "roles" / "meet" / "files"))

from sovmeet import config as meet_config  # noqa: E402
from sovmeet import livekit_token, meetings, rooms  # noqa: E402
from sovmeet.app import create_app  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from tests.unit.test_meet_app import API, PUBLIC, FakeKeycloak, login, settings  # noqa: E402

SECRET = "s" * 48


class FakeLiveKit:
    """LiveKit's RoomService over Twirp/JSON: checks the admin token like the SFU does."""

    def __init__(self):
        self.rooms: dict[str, dict[str, dict]] = {}
        self.calls: list[tuple[str, dict]] = []
        self.up = True

    def join(self, room: str, token: str) -> str:
        claims = livekit_token.decode(token, "APIkey1", SECRET)
        identity = claims["sub"]
        n = len(self.rooms.get(room, {}))
        self.rooms.setdefault(room, {})[identity] = {
            "identity": identity, "name": claims["name"],
            "attributes": dict(claims.get("attributes") or {}),
            "tracks": [{"sid": f"TR_mic{n}", "source": "MICROPHONE", "muted": False},
                       {"sid": f"TR_cam{n}", "source": 1, "muted": False}]}
        return identity

    def handler(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("down", request=request)
        method = request.url.path.rsplit("/", 1)[-1]
        body = json.loads(request.content)
        try:
            claims = jwt.decode(request.headers["authorization"].split()[1], SECRET,
                                algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return httpx.Response(401, json={"code": "unauthenticated"})
        if not claims["video"].get("roomAdmin") or claims["video"].get("room") != body["room"]:
            return httpx.Response(403, json={"code": "permission_denied"})
        if method == "DeleteRoom" and not claims["video"].get("roomCreate"):
            # LiveKit's rule: deleting a room needs roomCreate, not only roomAdmin.
            return httpx.Response(401, json={"code": "unauthenticated"})
        self.calls.append((method, body))
        room = self.rooms.get(body["room"], {})
        if method == "ListParticipants":
            return httpx.Response(200, json={"participants": list(room.values())})
        if method == "DeleteRoom":
            self.rooms.pop(body["room"], None)
            return httpx.Response(200, json={})
        who = room.get(body.get("identity"))
        if who is None:
            return httpx.Response(404, json={"code": "not_found", "msg": "participant not found"})
        if method == "GetParticipant":
            return httpx.Response(200, json=who)
        if method == "MutePublishedTrack":
            for track in who["tracks"]:
                if track["sid"] == body["track_sid"]:
                    track["muted"] = body["muted"]
            return httpx.Response(200, json={})
        if method == "RemoveParticipant":
            room.pop(body["identity"])
            return httpx.Response(200, json={})
        if method == "UpdateParticipant":
            for key, value in body["attributes"].items():
                if value:
                    who["attributes"][key] = value
                else:
                    who["attributes"].pop(key, None)
            return httpx.Response(200, json=who)
        return httpx.Response(404, json={"code": "bad_route"})


@pytest.fixture
def site(tmp_path):
    """The app with guests allowed, its Keycloak and LiveKit, and a browser factory."""
    idp, sfu = FakeKeycloak(), FakeLiveKit()

    def route(request):
        return (sfu.handler if request.url.host == "rtc.example.test" else idp.handler)(request)

    cfg = meet_config.from_dict(settings(tmp_path, allow_guests=True))
    app = create_app(cfg, http=httpx.AsyncClient(transport=httpx.MockTransport(route)))

    class Site:
        def __init__(self):
            self.idp, self.sfu, self.app = idp, sfu, app

        def browser(self, name=None, sub=None):
            client = TestClient(app, base_url=PUBLIC, follow_redirects=False)
            if name:
                resp = login(client, idp, name=name, sub=sub or f"sub-{name}")
                assert resp.status_code == 302, resp.text
            return client

    return Site()


def post(client, path, **kw):
    return client.post(path, headers=API, **kw)


def enter(site, client, room, **body):
    """Ask to join; on a token the participant joins the fake SFU. (response, identity)."""
    resp = post(client, f"/api/rooms/{room}/token", json=body)
    identity = site.sfu.join(room, resp.json()["token"]) if resp.status_code == 200 else None
    return resp, identity


@pytest.fixture
def meeting(site):
    """alice owns a room; bob has joined it. (site, alice, bob, room, alice_id, bob_id)"""
    alice, bob = site.browser("Alice"), site.browser("Bob")
    room = post(alice, "/api/rooms").json()["room"]
    _, alice_id = enter(site, alice, room)
    resp, bob_id = enter(site, bob, room)
    assert resp.status_code == 200
    return site, alice, bob, room, alice_id, bob_id


# Rooms


def test_the_creator_owns_the_room_and_manages_it(site):
    alice, bob = site.browser("Alice"), site.browser("Bob")
    created = post(alice, "/api/rooms", json={"title": "Budget 2027", "access": "restricted"})
    assert created.status_code == 201, created.text
    room = created.json()
    assert (room["role"], room["access"], room["title"]) == ("owner", "restricted", "Budget 2027")
    assert alice.get("/api/rooms", headers=API).json()["rooms"][0]["room"] == room["room"]
    assert bob.get("/api/rooms", headers=API).json()["rooms"] == []
    assert bob.get(f"/api/rooms/{room['room']}", headers=API).json()["role"] == "participant"

    renamed = post(alice, f"/api/rooms/{room['room']}/settings",
                   json={"title": "Budget 2028", "access": "public"})
    assert renamed.json()["title"] == "Budget 2028" and renamed.json()["access"] == "public"
    refused = post(bob, f"/api/rooms/{room['room']}/settings", json={"access": "public"})
    assert refused.status_code == 403 and "owner" in refused.json()["error"]
    assert post(bob, f"/api/rooms/{room['room']}/delete").status_code == 403

    assert post(alice, f"/api/rooms/{room['room']}/delete").status_code == 200
    assert alice.get("/api/rooms", headers=API).json()["rooms"] == []
    assert alice.get(f"/r/{room['room']}").status_code == 404


@pytest.mark.parametrize("body, text", [
    ({"access": "everyone"}, "access is one of public, trusted, restricted"),
    ({"title": "x" * 81}, "1 to 80"),
    ({"title": "\u202e\u0000"}, "1 to 80"),
    ({"title": ["list"]}, "1 to 80"),
])
def test_bad_room_settings_are_clear_errors(site, body, text):
    alice = site.browser("Alice")
    resp = post(alice, "/api/rooms", json=body)
    assert resp.status_code == 400 and text in resp.json()["error"]
    assert "Traceback" not in resp.text


# Access levels and the lobby


@pytest.mark.parametrize("access, member, guest", [
    ("public", 200, 200), ("trusted", 200, 202), ("restricted", 202, 202)])
def test_access_levels_decide_who_waits(site, access, member, guest):
    alice, bob, eve = site.browser("Alice"), site.browser("Bob"), site.browser()
    room = post(alice, "/api/rooms", json={"access": access}).json()["room"]
    assert enter(site, alice, room)[0].status_code == 200  # the owner always enters
    assert enter(site, bob, room)[0].status_code == member
    resp, _ = enter(site, eve, room, guest_name="Eve")
    assert resp.status_code == guest
    if guest == 202:
        assert resp.json()["status"] == "waiting" and resp.json()["lobby"]


def test_lobby_admit_and_deny(site):
    alice, bob, eve = site.browser("Alice"), site.browser("Bob"), site.browser()
    room = post(alice, "/api/rooms", json={"access": "restricted"}).json()["room"]
    bob_wait = post(bob, f"/api/rooms/{room}/token").json()["lobby"]
    eve_wait = post(eve, f"/api/rooms/{room}/token", json={"guest_name": "Eve"}).json()["lobby"]

    waiting = alice.get(f"/api/rooms/{room}/lobby", headers=API).json()["waiting"]
    assert [(w["name"], w["kind"]) for w in waiting] == [("Bob", "member"),
                                                         ("Eve", "guest")]
    # Waiting participants are not moderators: they see nobody's requests.
    assert bob.get(f"/api/rooms/{room}/lobby", headers=API).status_code == 403
    assert post(bob, f"/api/rooms/{room}/lobby/{bob_wait}/admit").status_code == 403

    assert post(bob, f"/api/rooms/{room}/lobby/{bob_wait}").json()["status"] == "waiting"
    assert post(alice, f"/api/rooms/{room}/lobby/{bob_wait}/admit").status_code == 200
    assert post(alice, f"/api/rooms/{room}/lobby/{eve_wait}/deny").status_code == 200
    admitted = post(bob, f"/api/rooms/{room}/lobby/{bob_wait}")
    assert admitted.status_code == 200 and admitted.json()["token"]
    assert post(eve, f"/api/rooms/{room}/lobby/{eve_wait}").json() == {"status": "denied"}
    # Another person's request cannot be polled for its token.
    assert post(eve, f"/api/rooms/{room}/lobby/{bob_wait}").status_code == 410
    # Admitted for the meeting: a reload joins directly.
    assert enter(site, bob, room)[0].status_code == 200
    assert alice.get(f"/api/rooms/{room}/lobby", headers=API).json()["waiting"] == []
    assert post(alice, f"/api/rooms/{room}/lobby/unknown-id/admit").status_code == 404


def test_waiting_expires(site, monkeypatch):
    alice, bob = site.browser("Alice"), site.browser("Bob")
    room = post(alice, "/api/rooms", json={"access": "restricted"}).json()["room"]
    wait = post(bob, f"/api/rooms/{room}/token").json()["lobby"]
    later = time.time() + rooms.LOBBY_IDLE + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert alice.get(f"/api/rooms/{room}/lobby", headers=API).json()["waiting"] == []
    resp = post(bob, f"/api/rooms/{room}/lobby/{wait}")
    assert resp.status_code == 410 and resp.json()["status"] == "expired"


def test_a_flood_of_lobby_requests_is_bounded(site):
    alice = site.browser("Alice")
    room = post(alice, "/api/rooms", json={"access": "restricted"}).json()["room"]
    # One person asking again keeps one place in the queue.
    bob = site.browser("Bob")
    ids = {post(bob, f"/api/rooms/{room}/token").json().get("lobby") for _ in range(3)}
    assert len(ids) == 1 and None not in ids
    codes = [post(site.browser(), f"/api/rooms/{room}/token",
                  json={"guest_name": f"G{i}"}).status_code
             for i in range(rooms.LOBBY_ADDRESS_RATE + 2)]
    allowed = rooms.LOBBY_ADDRESS_RATE - 1  # bob's request counts for the address too
    assert codes[:allowed] == [202] * allowed
    assert set(codes[allowed:]) == {429}
    last = post(site.browser(), f"/api/rooms/{room}/token", json={"guest_name": "G"})
    assert last.status_code == 429 and "wait a minute" in last.json()["error"]


# Moderation


def test_the_owner_mutes_one_or_everyone(meeting):
    site, alice, bob, room, alice_id, bob_id = meeting
    resp = post(alice, f"/api/rooms/{room}/participants/{bob_id}/mute",
                json={"source": "microphone"})
    assert resp.status_code == 200 and resp.json() == {"muted": 1}
    bob_tracks = site.sfu.rooms[room][bob_id]["tracks"]
    assert [t["muted"] for t in bob_tracks] == [True, False]
    resp = post(alice, f"/api/rooms/{room}/mute-all", json={"source": "camera"})
    assert resp.json() == {"muted": 1}
    assert bob_tracks[1]["muted"] is True
    assert site.sfu.rooms[room][alice_id]["tracks"][1]["muted"] is False  # not the caller


def test_moderation_by_others_is_refused(meeting, tmp_path):
    site, alice, bob, room, alice_id, bob_id = meeting
    carol = site.browser("Carol")
    carol_room = post(carol, "/api/rooms").json()["room"]
    forged = TestClient(site.app, base_url=PUBLIC, follow_redirects=False)
    forged.cookies.set("sovmeet_session", "eyJ1c2VyIjp7fX0=.AAAA.BBBB", domain="meet.example.test")
    before = list(site.sfu.calls)
    for who, path, status in [
        (bob, f"/api/rooms/{room}/participants/{alice_id}/mute", 403),
        (bob, f"/api/rooms/{room}/participants/{alice_id}/remove", 403),
        (bob, f"/api/rooms/{room}/mute-all", 403),
        (bob, f"/api/rooms/{room}/end", 403),
        (carol, f"/api/rooms/{room}/participants/{bob_id}/remove", 403),  # owner of another room
        (carol, f"/api/rooms/{carol_room}/participants/{bob_id}/remove", 404),  # not in hers
        (forged, f"/api/rooms/{room}/participants/{bob_id}/mute", 403),
        (forged, f"/api/rooms/{room}/settings", 403),
        (alice, f"/api/rooms/{room}/participants/nobody/mute", 400),
        (alice, f"/api/rooms/{room}/participants/{bob_id[:-6]}aaaaaa/mute", 404),
    ]:
        resp = post(who, path, json={})
        assert resp.status_code == status, (path, resp.text)
        assert resp.json()["error"] and "Traceback" not in resp.text
    assert not [c for c in site.sfu.calls[len(before):] if c[0] != "GetParticipant"
                and c[0] != "ListParticipants"]
    assert post(bob, f"/api/rooms/{room}/mute-all").json()["error"] == meetings.NOT_MODERATOR


def test_a_removed_participant_gets_no_new_token(meeting):
    site, alice, bob, room, alice_id, bob_id = meeting
    _, second = enter(site, bob, room)  # bob in a second tab
    assert post(alice, f"/api/rooms/{room}/participants/{bob_id}/remove").status_code == 200
    assert bob_id not in site.sfu.rooms[room] and second not in site.sfu.rooms[room]
    again = post(bob, f"/api/rooms/{room}/token")
    assert again.status_code == 403 and again.json()["removed"] is True
    refused = post(bob, f"/api/rooms/{room}/participants/{alice_id}/remove")
    assert refused.status_code == 403  # and he cannot remove the owner either
    assert post(alice, f"/api/rooms/{room}/participants/{alice_id}/remove").status_code == 403
    # Ending the meeting ends the removal: the next meeting in this room is a new one.
    assert post(alice, f"/api/rooms/{room}/end").status_code == 200
    assert room not in site.sfu.rooms
    assert post(bob, f"/api/rooms/{room}/token").status_code == 200


def test_promoted_participants_moderate(meeting):
    site, alice, bob, room, alice_id, bob_id = meeting
    eve = site.browser()
    post(alice, f"/api/rooms/{room}/settings", json={"access": "public"})
    _, eve_id = enter(site, eve, room, guest_name="Eve")
    assert post(bob, f"/api/rooms/{room}/participants/{eve_id}/mute").status_code == 403
    assert post(alice, f"/api/rooms/{room}/participants/{bob_id}/promote").status_code == 200
    assert site.sfu.rooms[room][bob_id]["attributes"]["role"] == "moderator"
    assert post(bob, f"/api/rooms/{room}/participants/{eve_id}/mute").status_code == 200
    assert bob.get(f"/api/rooms/{room}", headers=API).json()["role"] == "moderator"
    resp = post(alice, f"/api/rooms/{room}/participants/{eve_id}/promote")
    assert resp.status_code == 400 and "guests" in resp.json()["error"]
    # The moderator's next token says so; the owner's too.
    claims = livekit_token.decode(post(bob, f"/api/rooms/{room}/token").json()["token"],
                                  "APIkey1", SECRET)
    assert claims["attributes"] == {"role": "moderator", "kind": "member"}


def test_hands_are_raised_by_their_owner_only(meeting):
    site, alice, bob, room, alice_id, bob_id = meeting
    resp = post(bob, f"/api/rooms/{room}/hand", json={"identity": bob_id, "raised": True})
    assert resp.status_code == 200
    raised_at = int(site.sfu.rooms[room][bob_id]["attributes"]["hand"])
    assert abs(raised_at - time.time() * 1000) < 5000
    assert post(bob, f"/api/rooms/{room}/hand",
                json={"identity": alice_id, "raised": True}).status_code == 403
    assert post(bob, f"/api/rooms/{room}/hand",
                json={"identity": bob_id, "raised": "yes"}).status_code == 400
    post(bob, f"/api/rooms/{room}/hand", json={"identity": bob_id, "raised": False})
    assert "hand" not in site.sfu.rooms[room][bob_id]["attributes"]


def test_tokens_carry_the_role_and_live_only_to_join(meeting):
    site, alice, bob, room, alice_id, bob_id = meeting
    claims = livekit_token.decode(post(alice, f"/api/rooms/{room}/token").json()["token"],
                                  "APIkey1", SECRET)
    assert claims["attributes"] == {"role": "owner", "kind": "member"}
    assert claims["exp"] - claims["iat"] == 600  # the settings' token_ttl
    assert "canUpdateOwnMetadata" not in claims["video"]  # attributes stay the server's


def test_livekit_down_is_a_clear_error(meeting, caplog):
    site, alice, bob, room, alice_id, bob_id = meeting
    site.sfu.up = False
    caplog.set_level(logging.INFO, logger="sovmeet")
    resp = post(alice, f"/api/rooms/{room}/participants/{bob_id}/mute")
    assert resp.status_code == 503 and "conferencing service" in resp.json()["error"]


def test_moderation_logs_name_nobody(meeting, caplog):
    site, alice, bob, room, alice_id, bob_id = meeting
    caplog.set_level(logging.DEBUG, logger="sovmeet")
    post(alice, f"/api/rooms/{room}/participants/{bob_id}/remove")
    post(bob, f"/api/rooms/{room}/end")
    assert "moderator removed a participant" in caplog.text
    assert "refused" in caplog.text
    for personal in ("Bob", "Alice", bob_id, "sub-Bob"):
        assert personal not in caplog.text


def test_rooms_of_the_first_release_are_kept(tmp_path):
    path = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE rooms (name TEXT PRIMARY KEY, created INTEGER)")
        db.execute("INSERT INTO rooms VALUES ('abc-defg', 1)")
    store = rooms.RoomStore(str(path))
    room = store.get("abc-defg")
    assert room.owner is None and room.access == rooms.DEFAULT_ACCESS and room.title == ""
    assert store.create("new-room", owner="u-1")


def test_deleting_a_room_drops_its_lobby(site):
    alice = site.browser("Alice")
    room = post(alice, "/api/rooms", json={"access": "restricted"}).json()["room"]
    for i in range(5):
        post(site.browser(), f"/api/rooms/{room}/token", json={"guest_name": f"G{i}"})
    post(alice, f"/api/rooms/{room}/delete")
    with sqlite3.connect(site.app.state.rooms.path) as db:
        assert db.execute("SELECT count(*) FROM lobby").fetchone()[0] == 0


def test_a_guest_can_choose_to_sign_in(site):
    guest = site.browser()
    resp = guest.get("/login", params={"next": "/r/abc-defg"})
    assert resp.status_code == 302 and resp.headers["location"].startswith(
        "https://id.example.test/realms/sov/protocol/openid-connect/auth?")
    hostile = guest.get("/login", params={"next": "https://evil.example/"})
    assert hostile.status_code == 302
    code, q = site.idp.authorize(hostile.headers["location"])
    back = guest.get("/auth/callback", params={"code": code, "state": q["state"]})
    assert back.headers["location"] == PUBLIC + "/"


def test_rooms_kept_on_the_host_are_imported_once(tmp_path):
    from sovmeet.__main__ import main as sovmeet_main

    from tests.unit.test_meet_app import settings as app_settings

    old = tmp_path / "rooms.sqlite3"
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE rooms (name TEXT PRIMARY KEY, created INTEGER)")
        db.execute("INSERT INTO rooms VALUES ('abc-defg', 1), ('hij-klmn', 2)")
    conf = tmp_path / "sovmeet.json"
    conf.write_text(json.dumps(app_settings(tmp_path, database=str(tmp_path / "new.sqlite3"))))
    new = rooms.RoomStore(str(tmp_path / "new.sqlite3"))
    new.create("abc-defg", owner="u-1")  # already there: kept as it is
    assert sovmeet_main(["--config", str(conf), "--import-rooms", str(old)]) == 0
    assert new.get("hij-klmn").created == 2 and new.get("abc-defg").owner == "u-1"
    assert not old.exists() and (tmp_path / "rooms.sqlite3.imported").exists()
