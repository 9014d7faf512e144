"""The meeting app, checked as its users meet it: in a real browser, through Keycloak.

Two users log in through Keycloak's page in Debian's headless chromium (fake camera
and microphone) and meet in a room by its link; each must see the other's video
playing. Around it, HTTP checks of what must be refused: no session, forged or expired
sessions and LiveKit tokens, bad room links. Names resolve to the test host only in the
browser (--host-resolver-rules) and in these checks (getaddrinfo for the service names);
the deployment's internal CA is trusted through an NSS database, never by ignoring errors.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from sovctl.probes import context
from sovctl.probes.meet_client import (
    API,
    artifacts_dir,
    get,
    is_ip,
    names_resolve_to,
    pinned,
    post,
    service_address,
    session_cookie,
    user_cookie,
)

MEET_HOSTS = context.host_names("meet")
pytestmark = pytest.mark.skipif(not MEET_HOSTS, reason="no host in group 'meet'")

CHROMIUM = os.environ.get("SOVCTL_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module", params=MEET_HOSTS)
def meet(request):
    inv = context.inventory()
    inv_host = inv.hosts[request.param]
    host = context.testinfra_host(request.param)
    address = context.address_of(request.param)
    domain = context.resolve(inv_host, "sov_domain")
    settings = json.loads(host.check_output("cat /etc/sovmeet/sovmeet.json"))
    public = urlsplit(settings["public_url"]).hostname
    issuer = settings["oidc_issuer"]
    rtc = urlsplit(settings["livekit_url"]).hostname
    services = [public, urlsplit(issuer).hostname, rtc]
    names = pinned({
        public: address,
        urlsplit(issuer).hostname: service_address("identity", address),
        rtc: service_address("conferencing", address)})
    # Services reached by address (the sandbox has no DNS): the browser may reach exactly
    # these addresses besides the pinned names.
    addresses = sorted({s for s in services if s and is_ip(s)})
    ca = host.check_output("cat /etc/ssl/sovctl/ca.crt")
    tmp = Path(tempfile.mkdtemp(prefix="sovctl-meet-"))
    (tmp / "ca.crt").write_text(ca + "\n")
    identity = context.hosts("identity")
    users = [u for u in (identity[0].vars.get("keycloak_users") or []) if isinstance(u, dict)]
    password = context.resolve(identity[0], "vault_sandbox_user_password") if identity else None
    with names_resolve_to(names):
        yield {
            "name": request.param, "host": host, "address": address, "domain": domain,
            "url": settings["public_url"], "issuer": issuer, "names": names,
            "addresses": addresses,
            "settings": settings, "ca": str(tmp / "ca.crt"), "tmp": tmp,
            "users": [(u["username"], password) for u in users[:2]],
        }
    shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ the service on the host

def test_runs_from_debian_packages_as_its_own_user_on_loopback(meet):
    host = meet["host"]
    assert host.service("sovmeet").is_running and host.service("sovmeet").is_enabled
    out = host.check_output(
        "/usr/bin/python3 -c 'import starlette, uvicorn, httpx, jwt, itsdangerous; "
        "print(starlette.__file__, uvicorn.__file__, httpx.__file__, jwt.__file__)'")
    assert all(p.startswith("/usr/lib/python3/dist-packages/") for p in out.split()), out
    pid = host.check_output("systemctl show -p MainPID --value sovmeet")
    assert host.check_output(f"ps -o user= -p {pid}").strip() == "sovmeet"
    listening = host.check_output("ss -Hltnp")
    lines = [line for line in listening.splitlines() if "python3" in line]
    assert lines and all("127.0.0.1:" in line for line in lines), listening
    cfg = host.file("/etc/sovmeet/sovmeet.json")
    assert (cfg.user, cfg.group, cfg.mode) == ("root", "sovmeet", 0o640)


def test_unit_is_hardened(meet):
    props = meet["host"].check_output(
        "systemctl show sovmeet -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p ProtectHome "
        "-p CapabilityBoundingSet -p RestrictNamespaces -p MemoryDenyWriteExecute")
    for expected in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "ProtectHome=yes", "RestrictNamespaces=yes", "MemoryDenyWriteExecute=yes"):
        assert expected in props, props
    caps = [line for line in props.splitlines() if line.startswith("CapabilityBoundingSet=")]
    assert caps == ["CapabilityBoundingSet="], caps


def test_frontend_is_self_hosted(meet):
    """The built bundle names no host outside the deployment for anything it loads."""
    index = get(meet, "/", cookie=user_cookie(meet))
    assert index.status_code == 200
    assert "https://" not in index.text and "http://" not in index.text
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp


# ------------------------------------------------------------------ refusals over HTTP

def test_not_logged_in_is_sent_to_keycloak(meet):
    # With guests allowed, a room link opens the pre-join page instead (a guest may join).
    guests = meet["settings"]["allow_guests"]
    for path in ("/", "/login?next=/r/abc-defg-hij") if guests else ("/", "/r/abc-defg-hij"):
        resp = get(meet, path)
        assert resp.status_code == 302, path
        location = resp.headers["location"]
        assert location.startswith(meet["issuer"] + "/protocol/openid-connect/auth?"), location
        query = parse_qs(urlsplit(location).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [meet["url"] + "/auth/callback"]
    assert post(meet, "/api/rooms").status_code == 401
    if guests:
        assert get(meet, "/r/abc-defg-hij").status_code == 404  # unknown room, guest or not


def test_forged_session_is_refused(meet):
    forged = [
        session_cookie("not-the-key-" + "x" * 40, {"user": {"id": "m", "name": "Mallory",
                                                             "exp": int(time.time()) + 3600}}),
        base64.b64encode(b'{"user": {"id": "m", "name": "M", "exp": 9999999999}}').decode()
        + ".ZZZZZZ.ZZZZZZZZZZZZ",
    ]
    for cookie in forged:
        resp = get(meet, "/", cookie=cookie)
        assert resp.status_code == 302
        assert resp.headers["location"].startswith(meet["issuer"])
        assert post(meet, "/api/rooms", cookie=cookie).status_code == 401


def test_expired_session_is_refused(meet):
    # Control: a session the app signed now is accepted, so the refusals below are about time.
    assert get(meet, "/", cookie=user_cookie(meet)).status_code == 200
    lifetime = int(meet["settings"]["session_lifetime"])
    old = user_cookie(meet, signed_at=time.time() - lifetime - 60)
    assert get(meet, "/", cookie=old).status_code == 302
    assert post(meet, "/api/rooms", cookie=old).status_code == 401
    ended = user_cookie(meet, exp_in=-60)
    assert get(meet, "/", cookie=ended).status_code == 302


@pytest.mark.parametrize("path, status, text", [
    ("/r/abc-defg-hij-klm", 404, "Unknown meeting"),
    ("/r/" + "a" * 300, 400, "at most 48"),
    ("/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400, "lower-case letters"),
    ("/r/abc%2F..%2Fdef", 400, "lower-case letters"),
    # Above the root once decoded: the nginx edge refuses it with its own 400 page.
    ("/r/..%2F..%2Fetc%2Fpasswd", 400, "Bad Request"),
    ("/r/'%20OR%201=1--", 400, "lower-case letters"),
    ("/r/caf%C3%A9", 400, "lower-case letters"),
])
def test_bad_room_links_give_a_clear_page(meet, path, status, text):
    resp = get(meet, path, cookie=user_cookie(meet))
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"].startswith("text/html")
    assert text in resp.text
    assert "<script>" not in resp.text and "Traceback" not in resp.text


def test_forged_or_expired_livekit_tokens_are_refused(meet):
    import jwt
    import requests

    cookie = user_cookie(meet)
    room = post(meet, "/api/rooms", cookie=cookie).json()["room"]
    grant = post(meet, f"/api/rooms/{room}/token", cookie=cookie)
    assert grant.status_code == 200
    token = grant.json()["token"]
    validate = "https://" + urlsplit(grant.json()["url"]).hostname + "/rtc/validate"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["video"]["room"] == room and claims["video"]["roomJoin"] is True

    def check(tok):
        return requests.get(validate, params={"access_token": tok}, verify=meet["ca"],
                            timeout=10).status_code

    assert check(token) == 200  # the app's own token: LiveKit accepts it
    forged = jwt.encode(claims, "forged-" + "y" * 40, algorithm="HS256")
    assert check(forged) == 401
    expired = jwt.encode(dict(claims, nbf=int(time.time()) - 7200, exp=int(time.time()) - 3600),
                         meet["settings"]["livekit_api_secret"], algorithm="HS256")
    assert check(expired) == 401


# ------------------------------------------------------------------ two users in a browser

@pytest.fixture(scope="module")
def browser_run(meet):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if not shutil.which("certutil"):
        pytest.skip("certutil is not installed (apt-get install libnss3-tools)")
    if len(meet["users"]) < 2 or not meet["users"][0][1]:
        pytest.skip("the inventory declares fewer than two keycloak_users with a password")
    home = meet["tmp"] / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "sovctl internal CA",
                    "-t", "C,,", "-i", meet["ca"]], check=True)
    artifacts = artifacts_dir()
    config = meet["tmp"] / "e2e.json"
    config.write_text(json.dumps({
        "chromium": CHROMIUM, "meet_url": meet["url"], "resolve": meet["names"],
        "addresses": meet["addresses"],
        "users": meet["users"], "artifacts_dir": str(artifacts.resolve()), "timeout_ms": 90000,
    }))
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache")}
    proc = subprocess.run([sys.executable, "-m", "sovctl.probes.meet_browser", str(config)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (artifacts / "meet-browser.json").write_text(json.dumps(result, indent=2))
    return result


def _report(result) -> str:
    keys = ("error", "steps", "a_sees_b", "b_sees_a", "failed", "console_errors")
    return json.dumps({k: result.get(k) for k in keys}, indent=1)[-6000:]


def test_browser_login_goes_through_keycloak(meet, browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    for page in ("a_login_page", "b_login_page"):
        assert browser_run[page].startswith(meet["issuer"] + "/protocol/openid-connect/auth"), page
    assert browser_run["link"].startswith(meet["url"] + "/r/")
    assert browser_run["b_after_login"] == meet["url"] + "/"


def test_the_lobby_admits_and_denies(meet, browser_run):
    """A restricted room: a signed-in user and a guest wait; the owner admits one, denies
    the other; the admitted one joins without reloading, the denied one gets a clear page."""
    assert not browser_run.get("error"), _report(browser_run)
    waiting = sorted((w["kind"], w["name"]) for w in browser_run["lobby_seen_by_a"])
    assert waiting == [("guest", "Gwen"), ("member", browser_run["hand_seen"])], waiting
    assert browser_run["guest_denied"] == "Sie wurden nicht eingelassen"
    assert browser_run["b_joined_without_reload"] is True


def test_each_user_sees_the_other_s_video_playing(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    for side in ("a_sees_b", "b_sees_a"):
        seen = browser_run[side]
        assert seen["ok"], _report(browser_run)
        assert seen["after"]["w"] > 0 and seen["after"]["h"] > 0
        assert seen["after"]["t"] > seen["before"]["t"]
    assert len(browser_run["participants_a"]) == 2, browser_run["participants_a"]


def test_audio_and_chat_reach_the_other_user(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    assert any(a["tracks"] > 0 and not a["paused"] for a in browser_run["b_audio"]), \
        browser_run["b_audio"]
    assert browser_run.get("chat_received") is True


def test_raised_hand_and_reaction_are_seen_by_the_owner(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    bob = browser_run["hand_seen"]
    assert bob and bob in browser_run["participants_a"], browser_run["participants_a"]
    assert browser_run["reaction_seen"] == bob


def test_the_owner_mutes_a_participant(browser_run):
    """The owner's list reads the participant's microphone track state (muted by the
    server), and the participant's own microphone toggle turns off."""
    assert not browser_run.get("error"), _report(browser_run)
    assert browser_run["b_mic_before"] == "on"
    assert browser_run["mute_seen"] is True
    assert browser_run["b_toggle_after_mute"] == "false"


def test_a_removed_participant_leaves_and_cannot_rejoin(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    assert browser_run["b_removed_page"] == "Vous avez été retiré·e de la réunion"
    assert browser_run["b_rejoin_refused"] is True
    assert browser_run["meeting_ended"] is True


def test_the_owner_renames_and_deletes_the_room_from_my_rooms(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    assert browser_run["my_rooms"] == {"listed": "Budget review", "renamed": "Budget 2027",
                                       "deleted": True, "link_after_delete": 404}


def test_a_french_browser_sees_french(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    french = {k: v for k, v in browser_run["french"].items() if k != "screen_tile"}
    assert french == {
        "home": "Nouvelle réunion", "prejoin": "Rejoindre", "lobby": "En attente d’admission",
        "room": {"hand": "✋ Lever la main", "chat": "Discussion"}}


def test_a_guest_joins_with_camera_and_microphone_off(browser_run):
    """Denied once, the guest asks again with both off in the pre-join screen, is
    admitted, is listed with microphone and camera off, and still sees the owner."""
    assert not browser_run.get("error"), _report(browser_run)
    assert browser_run["guest_toggles"] == {"camera": "false", "microphone": "false"}
    assert browser_run["guest_in_room"] == {"mic": "off", "cam": "off"}
    assert browser_run["guest_sees_a"]["ok"], browser_run["guest_sees_a"]
    # Marked as a guest on every tile, in each viewer's language.
    assert "Gwen (guest)" in browser_run["guest_tiles"]["seen_by_a"], browser_run["guest_tiles"]
    assert "Gwen (Gast)" in browser_run["guest_tiles"]["seen_by_guest"], browser_run["guest_tiles"]


def test_a_german_browser_sees_german(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    assert browser_run["german"] == {
        "prejoin": "Beitreten", "lobby": "Warten auf Einlass",
        "room": {"hand": "✋ Hand heben", "chat": "Chat"},
        "ended": "Die Besprechung ist beendet"}


def test_screen_sharing_reaches_the_other_user(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    share = browser_run.get("screen_share") or {}
    if not share.get("ok"):
        pytest.skip("headless chromium could not share a screen here: "
                    f"{share.get('reason', 'not attempted')}")
    # The French viewer's tile names the shared screen in French (LiveKit's own says "'s screen").
    assert browser_run["french"]["screen_tile"].startswith("Écran de "), browser_run["french"]


def test_screenshots_are_kept(browser_run):
    assert not browser_run.get("error"), _report(browser_run)
    for path in browser_run["screenshots"]:
        data = Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path


def test_page_loads_make_no_request_outside_the_deployment(meet, browser_run):
    allowed = set(meet["names"]) | set(meet["addresses"])
    assert browser_run["requests"], "no request recorded"
    outside = [r["url"] for r in browser_run["requests"] + browser_run["websockets"]
               if urlsplit(r["url"]).scheme not in ("data", "blob")
               and urlsplit(r["url"]).hostname not in allowed]
    assert outside == [], outside
    hosts = {urlsplit(r["url"]).hostname for r in browser_run["requests"]}
    assert {urlsplit(meet["url"]).hostname, urlsplit(meet["issuer"]).hostname} <= hosts
    assert any(urlsplit(w["url"]).hostname in allowed for w in browser_run["websockets"])


def test_logs_nothing_personal(meet, browser_run):
    logs = meet["host"].check_output("journalctl -u sovmeet --no-pager -o cat")
    assert "login completed" in logs and "token issued" in logs
    assert "moderator removed a participant" in logs and "lobby request admitted" in logs
    personal = [u for u, _ in meet["users"]]
    identity = context.hosts("identity")[0].vars.get("keycloak_users") or []
    personal += [str(u.get(k)) for u in identity if isinstance(u, dict)
                 for k in ("first_name", "last_name", "email") if u.get(k)]
    found = [p for p in personal if p and p.lower() in logs.lower()]
    assert found == [], found


# ------------------------------------------------------------------ moderation over HTTP

def test_moderation_by_others_is_refused(meet):
    """Only the room's owner and moderators moderate: a participant, the owner of another
    room and a forged session are refused before anything reaches LiveKit."""
    owner, other = user_cookie(meet), user_cookie(meet, user_id="check1111111111111111")
    room = post(meet, "/api/rooms", cookie=owner, json={"access": "restricted"}).json()["room"]
    other_room = post(meet, "/api/rooms", cookie=other).json()["room"]
    someone = "u-" + "ab" * 10 + "-abcdef"
    forged = session_cookie("not-the-key-" + "x" * 40,
                             {"user": {"id": "check0000000000000000", "name": "M",
                                       "exp": int(time.time()) + 3600}})
    refusals = []
    for cookie, path, expected in [
        (other, f"/api/rooms/{room}/participants/{someone}/mute", 403),
        (other, f"/api/rooms/{room}/participants/{someone}/remove", 403),
        (other, f"/api/rooms/{room}/mute-all", 403),
        (other, f"/api/rooms/{room}/end", 403),
        (other, f"/api/rooms/{room}/lobby/x/admit", 403),
        (other, f"/api/rooms/{room}/settings", 403),
        (forged, f"/api/rooms/{room}/participants/{someone}/mute", 403),
        (forged, f"/api/rooms/{room}/end", 403),
        (None, f"/api/rooms/{room}/end", 403),
        # The owner: an unknown participant (LiveKit's own answer) and a malformed id.
        (owner, f"/api/rooms/{room}/participants/{someone}/mute", 404),
        (owner, f"/api/rooms/{room}/participants/nobody%3Cscript%3E/remove", 400),
    ]:
        resp = post(meet, path, cookie=cookie, json={"access": "public"})
        refusals.append((path.split(room)[-1], resp.status_code, resp.json().get("error")))
        assert resp.status_code == expected, (path, resp.status_code, resp.text)
        assert "Traceback" not in resp.text
    print("refused:", *refusals, sep="\n  ")
    assert refusals[0][2] == "only the room's owner and moderators can do this"
    assert get(meet, f"/api/rooms/{room}", cookie=owner, headers=API).json()["access"] \
        == "restricted"  # the other user's settings change did not happen
    for cookie, name in ((owner, room), (other, other_room)):
        assert post(meet, f"/api/rooms/{name}/delete", cookie=cookie).status_code == 200


def test_bad_input_gets_a_clear_answer(meet):
    """Over-long names and titles, and a flood of lobby requests from one client (429)."""
    owner = user_cookie(meet)
    too_long = post(meet, "/api/rooms", cookie=owner, json={"title": "x" * 500})
    assert too_long.status_code == 400 and "1 to 80" in too_long.json()["error"]
    room = post(meet, "/api/rooms", cookie=owner, json={"access": "restricted"}).json()["room"]
    try:
        if not meet["settings"]["allow_guests"]:
            pytest.skip("guests are not allowed here: the lobby flood needs guests")
        name = post(meet, f"/api/rooms/{room}/token", json={"guest_name": "G" * 41})
        assert name.status_code == 400 and "1 to 40" in name.json()["error"]
        codes = [post(meet, f"/api/rooms/{room}/token", json={"guest_name": f"Guest {i}"})
                 for i in range(40)]
        assert {c.status_code for c in codes[:20]} == {202}
        limited = [c for c in codes if c.status_code == 429]
        assert limited, [c.status_code for c in codes]
        assert "wait a minute" in limited[0].json()["error"]
    finally:
        # Deleting the room drops its lobby, so the address may ask again at once.
        assert post(meet, f"/api/rooms/{room}/delete", cookie=owner).status_code == 200
