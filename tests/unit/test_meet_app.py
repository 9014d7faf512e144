"""The meeting app (roles/meet/files/sovmeet): login, room links, tokens, bad input.

Keycloak is replaced by an in-process OIDC provider (httpx.MockTransport) that signs
real ID tokens with its own RSA key; everything else is the app as deployed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

ROLE_FILES = Path(__file__).resolve().parents[2] / "roles" / "meet" / "files"
sys.path.insert(0, str(ROLE_FILES))

from sovmeet import config as meet_config  # noqa: E402
from sovmeet import livekit_token, rooms  # noqa: E402
from sovmeet.__main__ import main as sovmeet_main  # noqa: E402
from sovmeet.app import SESSION_COOKIE, create_app  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

ISSUER = "https://id.example.test/realms/sov"
PUBLIC = "https://meet.example.test"
API = {"X-Sovmeet-Request": "1"}


class FakeKeycloak:
    """Discovery, JWKS and the token endpoint of a realm; checks PKCE like Keycloak."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.codes: dict[str, dict] = {}
        self.claims_override: dict = {}
        self.sign_with = None
        self.up = True

    def authorize(self, url: str, sub="8f14e45f-ceea-467a-9af0-000000000001", name="Alice Martin"):
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        code = f"code-{len(self.codes)}"
        self.codes[code] = dict(q, sub=sub, name=name)
        return code, q

    def id_token(self, grant: dict) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "meet", "sub": grant["sub"], "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], "name": grant["name"], "preferred_username": "alice"}
        claims.update(self.claims_override)
        return jwt.encode(claims, self.sign_with or self.key, algorithm="RS256",
                          headers={"kid": self.kid})

    def handler(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("down", request=request)
        path = request.url.path
        if path == "/realms/sov/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER,
                "authorization_endpoint": ISSUER + "/protocol/openid-connect/auth",
                "token_endpoint": ISSUER + "/protocol/openid-connect/token",
                "jwks_uri": ISSUER + "/protocol/openid-connect/certs",
                "end_session_endpoint": ISSUER + "/protocol/openid-connect/logout"})
        if path == "/realms/sov/protocol/openid-connect/certs":
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return httpx.Response(200, json={"keys": [dict(jwk, kid=self.kid, use="sig",
                                                           alg="RS256")]})
        if path == "/realms/sov/protocol/openid-connect/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            grant = self.codes.pop(form.get("code"), None)
            if grant is None or form.get("client_secret") != "c" * 40:
                return httpx.Response(400, json={"error": "invalid_grant"})
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(form["code_verifier"].encode()).digest()).rstrip(b"=").decode()
            if (challenge != grant["code_challenge"]
                    or form["redirect_uri"] != grant["redirect_uri"]):
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"access_token": "x", "token_type": "Bearer",
                                             "id_token": self.id_token(grant)})
        return httpx.Response(404)


def settings(tmp_path: Path, **over) -> dict:
    static = tmp_path / "www"
    (static / "assets").mkdir(parents=True, exist_ok=True)
    (static / "index.html").write_text("<!doctype html><div id=root></div>")
    (static / "assets" / "app.js").write_text("console.log(1)")
    ca = tmp_path / "ca.crt"
    ca.write_text("")
    data = {
        "public_url": PUBLIC, "oidc_issuer": ISSUER, "oidc_client_id": "meet",
        "oidc_client_secret": "c" * 40, "oidc_ca_file": str(ca),
        "livekit_url": "wss://rtc.example.test", "livekit_api_key": "APIkey1",
        "livekit_api_secret": "s" * 48, "session_secret": "k" * 48,
        "static_dir": str(static), "database": str(tmp_path / "rooms.sqlite3"),
        "allow_guests": False, "session_lifetime": 3600, "token_ttl": 600,
    }
    data.update(over)
    return data


@pytest.fixture
def idp():
    return FakeKeycloak()


def make_client(tmp_path, idp, **over):
    cfg = meet_config.from_dict(settings(tmp_path, **over))
    http = httpx.AsyncClient(transport=httpx.MockTransport(idp.handler))
    app = create_app(cfg, http=http)
    return TestClient(app, base_url=PUBLIC, follow_redirects=False)


@pytest.fixture
def client(tmp_path, idp):
    return make_client(tmp_path, idp)


def login(client, idp, next_path="/", **who):
    resp = client.get(next_path)
    assert resp.status_code == 302
    code, q = idp.authorize(resp.headers["location"], **who)
    return client.get("/auth/callback", params={"code": code, "state": q["state"]})


def logged_in(client, idp, **who):
    resp = login(client, idp, **who)
    assert resp.status_code == 302, resp.text
    return client


def new_room(client) -> str:
    resp = client.post("/api/rooms", headers=API)
    assert resp.status_code == 201, resp.text
    return resp.json()["room"]


# Login


def test_anonymous_visitor_is_sent_to_keycloak_with_pkce(client):
    resp = client.get("/")
    assert resp.status_code == 302
    url = resp.headers["location"]
    assert url.startswith(ISSUER + "/protocol/openid-connect/auth?")
    q = parse_qs(urlsplit(url).query)
    assert q["code_challenge_method"] == ["S256"]
    assert len(q["code_challenge"][0]) == 43
    assert q["client_id"] == ["meet"]
    assert q["redirect_uri"] == [PUBLIC + "/auth/callback"]
    assert q["response_type"] == ["code"]
    assert "openid" in q["scope"][0].split()
    assert q["state"][0] and q["nonce"][0]


def test_login_completes_and_serves_the_app(client, idp):
    resp = login(client, idp)
    assert resp.status_code == 302
    assert resp.headers["location"] == PUBLIC + "/"
    cookie = resp.headers["set-cookie"]
    for flag in ("secure", "httponly", "samesite=lax"):
        assert flag in cookie.lower()
    page = client.get("/")
    assert page.status_code == 200
    assert "id=root" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/api/session").json()["user"] == {"name": "Alice Martin"}


def test_login_returns_to_the_room_link_it_started_from(client, idp):
    logged_in(client, idp)
    room = new_room(client)
    other = TestClient(client.app, base_url=PUBLIC, follow_redirects=False)
    resp = login(other, idp, next_path=f"/r/{room}")
    assert resp.headers["location"] == f"{PUBLIC}/r/{room}"
    assert other.get(f"/r/{room}").status_code == 200


def test_callback_with_an_unknown_state_is_refused(client, idp):
    client.get("/")
    resp = client.get("/auth/callback", params={"code": "x", "state": "forged"})
    assert resp.status_code == 400
    assert "Sign-in expired" in resp.text
    assert "Traceback" not in resp.text


@pytest.mark.parametrize("claims", [
    {"nonce": "replayed"},
    {"aud": "another-client"},
    {"iss": "https://evil.example/realms/sov"},
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
])
def test_invalid_id_tokens_are_refused(client, idp, claims):
    idp.claims_override = claims
    resp = login(client, idp)
    assert resp.status_code == 401
    assert "Sign-in failed" in resp.text
    assert client.get("/", follow_redirects=False).status_code == 302


def test_id_token_signed_by_another_key_is_refused(client, idp):
    idp.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert login(client, idp).status_code == 401


def test_keycloak_down_gives_a_clear_page(client, idp):
    idp.up = False
    resp = client.get("/")
    assert resp.status_code == 503
    assert "Sign-in is unavailable" in resp.text


def test_logout_ends_the_session_at_keycloak_too(client, idp):
    logged_in(client, idp)
    resp = client.get("/logout")
    assert resp.headers["location"].startswith(ISSUER + "/protocol/openid-connect/logout?")
    assert client.get("/").status_code == 302


# Forged and expired sessions


def test_forged_session_cookie_is_refused(client, idp):
    forged = base64.b64encode(json.dumps(
        {"user": {"id": "x", "name": "Mallory", "exp": int(time.time()) + 3600}}).encode())
    client.cookies.set(SESSION_COOKIE, forged.decode() + ".AAAA.BBBB", domain="meet.example.test")
    assert client.get("/").status_code == 302
    assert client.post("/api/rooms", headers=API).status_code == 401


def test_session_signed_with_another_key_is_refused(client, idp, tmp_path):
    other_idp = FakeKeycloak()
    other = make_client(tmp_path / "other", other_idp, session_secret="z" * 48)
    logged_in(other, other_idp)
    client.cookies.set(SESSION_COOKIE, other.cookies[SESSION_COOKIE], domain="meet.example.test")
    assert client.get("/").status_code == 302


def test_expired_session_is_refused(client, idp, monkeypatch):
    logged_in(client, idp)
    assert client.get("/").status_code == 200
    later = time.time() + 3600 + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/").status_code == 302
    assert client.post("/api/rooms", headers=API).status_code == 401


# Rooms and tokens


def test_room_link_and_token_with_a_per_room_grant(client, idp):
    logged_in(client, idp)
    created = client.post("/api/rooms", headers=API)
    assert created.status_code == 201
    room = created.json()["room"]
    assert created.json()["link"] == f"{PUBLIC}/r/{room}"
    assert client.get(f"/r/{room}").status_code == 200
    resp = client.post(f"/api/rooms/{room}/token", headers=API)
    assert resp.status_code == 200
    body = resp.json()
    assert body["url"] == "wss://rtc.example.test"
    claims = livekit_token.decode(body["token"], "APIkey1", "s" * 48)
    assert claims["video"]["room"] == room
    assert claims["video"]["roomJoin"] is True
    assert claims["video"]["roomAdmin"] is False and claims["video"]["roomCreate"] is False
    assert claims["exp"] - claims["iat"] == 600
    assert claims["name"] == "Alice Martin"
    # The identity is a pseudonym: not the account's id, nor its name.
    assert "8f14e45f" not in claims["sub"] and "alice" not in claims["sub"].lower()


def test_tokens_are_refused_by_livekit_rules_when_forged_or_expired():
    token = livekit_token.access_token("APIkey1", "s" * 48, identity="u", name="n", room="abc",
                                       ttl=60, now=time.time() - 3600)
    with pytest.raises(jwt.ExpiredSignatureError):
        livekit_token.decode(token, "APIkey1", "s" * 48)
    forged = livekit_token.access_token("APIkey1", "f" * 48, identity="u", name="n", room="abc",
                                        ttl=60)
    with pytest.raises(jwt.InvalidSignatureError):
        livekit_token.decode(forged, "APIkey1", "s" * 48)


def test_api_refuses_cross_site_requests(client, idp):
    logged_in(client, idp)
    assert client.post("/api/rooms").status_code == 403
    resp = client.post("/api/rooms", headers=dict(API, Origin="https://evil.example"))
    assert resp.status_code == 403


def test_anonymous_cannot_create_rooms_or_get_tokens(client, idp):
    logged_in(client, idp)
    room = new_room(client)
    anon = TestClient(client.app, base_url=PUBLIC, follow_redirects=False)
    assert anon.post("/api/rooms", headers=API).status_code == 401
    assert anon.post(f"/api/rooms/{room}/token", headers=API).status_code == 401
    resp = anon.get(f"/r/{room}")
    assert resp.status_code == 302 and resp.headers["location"].startswith(ISSUER)


def test_unknown_room_link_gives_a_clear_page(client, idp):
    logged_in(client, idp)
    resp = client.get("/r/abc-defg-hij")
    assert resp.status_code == 404
    assert "Unknown meeting" in resp.text
    assert client.post("/api/rooms/abc-defg-hij/token", headers=API).status_code == 404


@pytest.mark.parametrize("path", [
    "/r/" + "a" * 49,
    "/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/r/Room",
    "/r/a--b",
    "/r/-abc",
    "/r/ab",
    "/r/caf%C3%A9",
    "/r/%00abc",
    "/r/abc%20def",
    "/r/..%2F..%2Fetc",
    "/r/abc/def",
])
def test_bad_room_names_give_a_clear_page(client, idp, path):
    logged_in(client, idp)
    resp = client.get(path)
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/html")
    assert "This is not a meeting link" in resp.text
    assert "<script>" not in resp.text and "Traceback" not in resp.text
    assert "sovmeet-error" in resp.text


def test_bad_room_names_are_refused_by_the_api(client, idp):
    logged_in(client, idp)
    resp = client.post("/api/rooms/" + "a" * 60 + "/token", headers=API)
    assert resp.status_code == 400
    assert "at most 48" in resp.json()["error"]


def test_unknown_pages_are_clear(client):
    resp = client.get("/nothing/here")
    assert resp.status_code == 404
    assert "Page not found" in resp.text


def test_guests_join_only_when_allowed(tmp_path, idp):
    client = make_client(tmp_path, idp, allow_guests=True)
    logged_in(client, idp)
    room = client.post("/api/rooms", headers=API, json={"access": "public"}).json()["room"]
    guest = TestClient(client.app, base_url=PUBLIC, follow_redirects=False)
    assert guest.get(f"/r/{room}").status_code == 200
    assert guest.post("/api/rooms", headers=API).status_code == 401
    assert guest.post(f"/api/rooms/{room}/token", headers=API, json={}).status_code == 400
    resp = guest.post(f"/api/rooms/{room}/token", headers=API, json={"guest_name": " Eve\u202e "})
    assert resp.status_code == 200
    claims = livekit_token.decode(resp.json()["token"], "APIkey1", "s" * 48)
    assert claims["name"] == "Eve"
    assert claims["sub"].startswith("g-")
    assert claims["video"]["room"] == room


def test_logs_nothing_personal(client, idp, caplog):
    caplog.set_level(logging.DEBUG, logger="sovmeet")
    logged_in(client, idp, name="Zoé Personnelle", sub="sub-secret-123")
    room = new_room(client)
    client.post(f"/api/rooms/{room}/token", headers=API)
    text = caplog.text
    assert "login completed" in text and "token issued" in text
    for personal in ("Zoé", "Personnelle", "sub-secret-123", "testclient"):
        assert personal not in text


# Names, settings, build cache


def test_generated_room_names_are_valid_and_distinct():
    names = {rooms.generate_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert rooms.check_name(name) == name


def test_room_store(tmp_path):
    store = rooms.RoomStore(tmp_path / "r.db")
    assert store.create("abc-def")
    assert not store.create("abc-def")
    assert store.exists("abc-def") and not store.exists("abc-deg")
    with pytest.raises(rooms.InvalidRoomName):
        store.create("Bad Name")


@pytest.mark.parametrize("change, field", [
    ({"public_url": "http://meet.example.test"}, "public_url"),
    ({"livekit_url": "https://rtc.example.test"}, "livekit_url"),
    ({"session_secret": "short"}, "session_secret"),
    ({"oidc_client_secret": ""}, "oidc_client_secret"),
    ({"token_ttl": 5}, "token_ttl"),
    ({"allow_guests": "yes"}, "allow_guests"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_settings_name_the_field(tmp_path, change, field):
    with pytest.raises(meet_config.ConfigError, match=field):
        meet_config.from_dict(settings(tmp_path, **change))


def test_check_config_command(tmp_path, capsys):
    path = tmp_path / "sovmeet.json"
    path.write_text(json.dumps(settings(tmp_path)))
    assert sovmeet_main(["--check-config", str(path)]) == 0
    path.write_text(json.dumps(settings(tmp_path, static_dir=str(tmp_path / "missing"))))
    assert sovmeet_main(["--check-config", str(path)]) == 2
    assert "index.html" in capsys.readouterr().err
    path.write_text("{not json")
    assert sovmeet_main(["--check-config", str(path)]) == 2


def test_frontend_build_cache_key(tmp_path):
    sys.path.insert(0, str(ROLE_FILES))
    import frontend_build

    src = tmp_path / "fe"
    (src / "src").mkdir(parents=True)
    (src / "package-lock.json").write_text("{}")
    (src / "src" / "App.jsx").write_text("x")
    first = frontend_build.probe(src, tmp_path / "cache")
    assert first["cached"] is False
    (src / "node_modules").mkdir()
    (src / "node_modules" / "junk.js").write_text("y")
    assert frontend_build.probe(src, tmp_path / "cache")["hash"] == first["hash"]
    (src / "package-lock.json").write_text('{"v": 2}')
    assert frontend_build.probe(src, tmp_path / "cache")["hash"] != first["hash"]


def test_frontend_sources_load_nothing_from_outside():
    frontend = ROLE_FILES.parent / "frontend"
    lock = json.loads((frontend / "package-lock.json").read_text())
    for name, meta in lock["packages"].items():
        if name:
            # npm omits `resolved` for the default registry; anything else is named.
            assert meta.get("resolved", "https://registry.npmjs.org/").startswith(
                "https://registry.npmjs.org/"), name
            assert meta.get("integrity", "").startswith("sha512-"), name
    for path in [frontend / "index.html", *sorted((frontend / "src").iterdir())]:
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path


def test_role_interface_is_documented():
    from tests.helpers import assert_role_interface_documented

    assert_role_interface_documented(ROLE_FILES.parent, "meet_")


def test_secrets_are_generated_into_the_vault():
    from sovctl import secrets

    cat = secrets.catalogue()
    for name in ("vault_meet_oidc_client_secret", "vault_meet_session_secret"):
        assert cat[name]["used_by"] == "meet" and cat[name]["length"] >= 32


def test_every_string_of_the_interface_is_translated():
    """Each language has every key the English one has, and every key the code asks for."""
    import re

    src = ROLE_FILES.parent / "frontend" / "src"
    text = (src / "i18n.js").read_text()
    tables = {}
    for lang in ("en", "fr", "de"):
        body = re.search(rf"^const {lang} = \{{\n(.*?)^\}};", text, re.S | re.M).group(1)
        tables[lang] = set(re.findall(r"^  (\w+):", body, re.M))
    assert tables["en"] and tables["fr"] == tables["en"] and tables["de"] == tables["en"], {
        lang: sorted(tables["en"] ^ keys) for lang, keys in tables.items()}
    used = set()
    for path in src.glob("*.jsx"):
        code = path.read_text()
        used |= set(re.findall(r"\bt\('(\w+)'", code))
        used |= {f"access_{a}" for a in ("public", "trusted", "restricted")}
    assert used - tables["en"] == set(), used - tables["en"]
    # Plurals are objects with the forms each language needs.
    for key in ("hands", "people"):
        assert re.search(rf"^  {key}: \{{ one: .*, other: .* \}},$", text, re.M)


def test_an_unreachable_database_gets_a_clear_503(client, idp, monkeypatch):
    """The rooms database down (or dropped, before a restore): the API answers 503 with
    a sentence, pages a 503 page; no traceback, no 500."""
    room = new_room(logged_in(client, idp))
    from sovmeet import db

    def down():
        raise db.Unavailable("PoolTimeout")

    monkeypatch.setattr(client.app.state.rooms.db, "transaction", down)
    api = client.get(f"/api/rooms/{room}", headers=API)
    assert api.status_code == 503 and "cannot reach its database" in api.json()["error"]
    page = client.get(f"/r/{room}")
    assert page.status_code == 503 and "Traceback" not in page.text


def test_a_slow_database_never_holds_the_other_requests(client, idp):
    """The rooms database answers in 1.5 s: a room page waits for it, the health check
    beside it answers at once (the database is called from worker threads)."""
    import anyio

    name = new_room(logged_in(client, idp))
    store = client.app.state.rooms
    fast_transaction = store.db.transaction

    def slow_transaction():
        time.sleep(1.5)
        return fast_transaction()

    store.db.transaction = slow_transaction
    finished = {}

    async def fetch(path, cookies=None):
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC,
                                     cookies=cookies) as http:
            resp = await http.get(path)
        finished[path] = (time.monotonic(), resp.status_code)

    async def both():
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, f"/r/{name}", dict(client.cookies))
            await anyio.sleep(0.2)
            tg.start_soon(fetch, "/healthz")

    anyio.run(both)
    assert finished["/healthz"][1] == 200 and finished[f"/r/{name}"][1] == 200
    assert finished["/healthz"][0] < finished[f"/r/{name}"][0] - 0.5, finished
