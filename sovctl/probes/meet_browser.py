"""Three people meet in Debian's headless chromium (fake camera and microphone), as on a
working day: A (English) signs in through Keycloak's page and creates a restricted room;
B (a browser set to French) signs in from the start page and opens the link; a guest opens
it without an account, in a browser set to German. B and the guest wait in the lobby; A
admits B and denies the guest. A and B see each other's video, hear each other, chat; B
raises a hand and reacts; A mutes B, A shares a screen, A removes B (whose rejoin is
refused). The guest asks again with camera and microphone off, is admitted and sees A's
video; A ends the meeting for both; A renames and deletes the room from "My rooms".

Driven by Playwright for Python (its wheel carries its own driver; the browser is the
machine's chromium, nothing is downloaded). Prints one JSON object:

    python -m sovctl.probes.meet_browser CONFIG.json
    CONFIG: {chromium, meet_url, resolve: {name: address}, addresses: [ip],
             users: [[user, password] x2], artifacts_dir, timeout_ms}

The CA is trusted through the NSS database in $HOME/.pki/nssdb (the caller makes it):
certificate errors are never ignored.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

REMOTE_VIDEO = """() => [...document.querySelectorAll('[data-lk-local-participant="false"] video')]
  .map((v) => ({ w: v.videoWidth, h: v.videoHeight, t: v.currentTime, paused: v.paused,
                 frames: v.getVideoPlaybackQuality?.().totalVideoFrames ?? null }))"""
FIRST_HAND = """() => { const first = document.querySelector('.sovmeet-participants li');
  return first && first.dataset.hand === 'raised' ? first.dataset.name : null; }"""
SCREEN_TRACK = """() => [...document.querySelectorAll(
  '[data-lk-local-participant="false"][data-lk-source="screen_share"] video')]
  .some((v) => v.videoWidth > 0)"""


def bare(url: str) -> str:
    """A URL without its query or fragment: login codes and tokens stay out of the record."""
    return re.split(r"[?#]", url, maxsplit=1)[0]


def row(name: str) -> str:
    return f'.sovmeet-participants li[data-name="{name}"]'


def host_rules(cfg: dict) -> str:
    """The deployment's services reached by address are left as they are (EXCLUDE ends the
    rules for them); its names map to their hosts; nothing else resolves, so nothing can
    leave the deployment."""
    rules = [f"EXCLUDE {ip}" for ip in cfg.get("addresses", [])]
    rules += [f"MAP {name} {ip}" for name, ip in cfg["resolve"].items()]
    rules.append("MAP * ~NOTFOUND")
    return ", ".join(rules)


class Meeting:
    def __init__(self, cfg: dict, result: dict):
        self.cfg = cfg
        self.result = result
        self.timeout = cfg.get("timeout_ms") or 90000
        self.meet_host = urlparse(cfg["meet_url"]).hostname

    def step(self, text: str) -> None:
        self.result["steps"].append(f"{datetime.now(UTC).isoformat()} {text}")

    def text(self, page, selector: str) -> str | None:
        value = page.text_content(selector, timeout=self.timeout)
        return value.strip() if value is not None else None

    def shot(self, page, name: str) -> None:
        path = str(Path(self.cfg["artifacts_dir"]) / name)
        page.screenshot(path=path)
        self.result["screenshots"].append(path)

    def login(self, page, user: str, password: str) -> None:
        page.wait_for_selector("#username", timeout=self.timeout)
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("#kc-login")
        page.wait_for_url(lambda u: urlparse(u).hostname == self.meet_host, timeout=self.timeout)

    def remote_video(self, page) -> dict:
        """A remote participant's video, rendering: decoded size > 0 and time advancing."""
        deadline = time.monotonic() + self.timeout / 1000
        last: list = []
        while time.monotonic() < deadline:
            first = page.evaluate(REMOTE_VIDEO)
            if any(v["w"] > 0 for v in first):
                page.wait_for_timeout(1500)
                second = page.evaluate(REMOTE_VIDEO)
                for k, v in enumerate(second):
                    if v["w"] > 0 and k < len(first) and v["t"] > first[k]["t"]:
                        return {"ok": True, "before": first[k], "after": v}
                last = second
            else:
                last = first
            page.wait_for_timeout(1000)
        return {"ok": False, "last": last}

    def run(self, browser) -> None:  # noqa: PLR0915 - one meeting, told in order
        cfg, result, timeout = self.cfg, self.result, self.timeout
        opts = {"viewport": {"width": 1280, "height": 720},
                "permissions": ["camera", "microphone"]}
        pages = {}
        for who, locale in (("A", "en-GB"), ("B", "fr-FR"), ("G", "de-DE")):
            ctx = browser.new_context(**opts, locale=locale)
            ctx.on("request", lambda r, who=who: result["requests"].append(
                {"who": who, "url": bare(r.url), "type": r.resource_type}))
            ctx.on("requestfailed", lambda r, who=who: result["failed"].append(
                {"who": who, "url": bare(r.url), "error": r.failure}))
            page = ctx.new_page()
            page.on("websocket", lambda ws, who=who: result["websockets"].append(
                {"who": who, "url": bare(ws.url)}))
            page.on("console", lambda m, who=who: m.type == "error" and result[
                "console_errors"].append(f"{who}: {m.text}"))
            page.on("pageerror", lambda e, who=who: result["console_errors"].append(
                f"{who}: {e.message}"))
            page.on("dialog", lambda d: d.accept())
            pages[who] = page
        a, b, g = pages["A"], pages["B"], pages["G"]

        self.step("A opens the app without a session")
        a.goto(cfg["meet_url"] + "/", timeout=timeout)
        result["a_login_page"] = bare(a.url)
        self.login(a, *cfg["users"][0])
        self.step("A is signed in")
        a.fill("#new-title", "Budget review")
        a.select_option("#new-access", "restricted")
        a.click("#new-meeting")
        a.wait_for_url(re.compile(r"/r/[a-z0-9-]+$"), timeout=timeout)
        result["link"] = a.url
        a.click("#join")
        a.wait_for_selector("#room-link", timeout=timeout)
        result["a_in_room"] = True
        self.step(f"A created and joined {result['link']}")

        self.step("B (French) opens the start page without a session")
        b.goto(cfg["meet_url"] + "/", timeout=timeout)
        result["b_login_page"] = bare(b.url)
        self.login(b, *cfg["users"][1])
        result["b_after_login"] = b.url
        french = result["french"] = {"home": self.text(b, "#new-meeting")}
        b.goto(result["link"], timeout=timeout)
        b.wait_for_selector("#join", timeout=timeout)
        french["prejoin"] = self.text(b, "#join")
        b.click("#join")
        b.wait_for_selector('[data-state="waiting"]', timeout=timeout)
        french["lobby"] = self.text(b, '[data-state="waiting"] h1')
        b.evaluate("() => { window.sovmeetNoReload = true; }")
        self.step("B waits in the lobby")

        self.step("the guest opens the link")
        g.goto(result["link"], timeout=timeout)
        g.fill("#display-name", "Gwen")
        german = result["german"] = {"prejoin": self.text(g, "#join")}
        g.click("#join")
        g.wait_for_selector('[data-state="waiting"]', timeout=timeout)
        self.step("the guest waits in the lobby")

        a.wait_for_function("() => document.querySelectorAll('.sovmeet-lobby li').length >= 2",
                            timeout=30000)
        result["lobby_seen_by_a"] = a.eval_on_selector_all(
            ".sovmeet-lobby li",
            "(els) => els.map((e) => ({ name: e.dataset.name, kind: e.dataset.kind }))")
        self.shot(a, "meet-lobby-a.png")
        a.click('.sovmeet-lobby li[data-kind="member"] .sovmeet-admit')
        a.click('.sovmeet-lobby li[data-kind="guest"] .sovmeet-deny')
        g.wait_for_selector('[data-state="denied"]', timeout=30000)
        result["guest_denied"] = self.text(g, '[data-state="denied"] h1')
        b.wait_for_selector("#room-link", timeout=timeout)
        result["b_joined_without_reload"] = b.evaluate("() => window.sovmeetNoReload === true")
        self.step("A admitted B and denied the guest")

        result["a_sees_b"] = self.remote_video(a)
        self.step(f"A sees B: {result['a_sees_b']['ok']}")
        result["b_sees_a"] = self.remote_video(b)
        self.step(f"B sees A: {result['b_sees_a']['ok']}")
        result["participants_a"] = a.eval_on_selector_all(
            ".sovmeet-participants li", "(els) => els.map((e) => e.dataset.name)")
        french["room"] = {"hand": self.text(b, "#raise-hand"), "chat": self.text(b, "#tab-chat")}
        self.shot(a, "meet-user-a.png")
        self.shot(b, "meet-user-b.png")

        # Audio: B plays A's microphone (LiveKit's RoomAudioRenderer attaches remote audio).
        result["b_audio"] = b.evaluate("""() => [...document.querySelectorAll('audio')].map(
            (el) => ({ paused: el.paused,
                       tracks: el.srcObject ? el.srcObject.getAudioTracks().length : 0 }))""")

        # Chat: A writes, B reads it in its chat panel.
        a.click("#tab-chat")
        a.fill("#chat-input", "hello from A")
        a.press("#chat-input", "Enter")
        b.click("#tab-chat")
        b.locator(".sovmeet-chat-messages").get_by_text("hello from A").first.wait_for(
            timeout=30000)
        result["chat_received"] = True
        a.click("#tab-people")
        b.click("#tab-people")
        self.step("B received A's chat message")

        # B raises a hand and reacts; A sees both.
        b.click("#raise-hand")
        b.click('.sovmeet-reaction[data-emoji="👍"]')
        try:
            result["reaction_seen"] = a.wait_for_selector(
                '.sovmeet-reactions li[data-emoji="👍"]', timeout=15000).get_attribute("data-from")
        except Exception as err:  # noqa: BLE001 - recorded for the test to report
            result["reaction_seen"] = f"not seen: {str(err).splitlines()[0]}"
        try:
            result["hand_seen"] = a.wait_for_function(FIRST_HAND, timeout=15000).json_value()
        except Exception:  # noqa: BLE001 - None says it was not seen
            result["hand_seen"] = None
        self.step(f"A sees B's hand ({result['hand_seen']}) "
                  f"and reaction ({result['reaction_seen']})")

        # A mutes B: A's list shows B's microphone track muted, and B's own toggle turns off.
        b_row = row(result["hand_seen"] or "Bob Durand")
        result["b_mic_before"] = a.get_attribute(b_row, "data-mic")
        a.click(f"{b_row} .sovmeet-mute-mic")
        a.wait_for_selector(f'{b_row}[data-mic="off"]', timeout=15000)
        result["mute_seen"] = True
        result["b_toggle_after_mute"] = b.get_attribute(
            '.sovmeet-controls [data-lk-source="microphone"]', "data-lk-enabled")
        self.step("A muted B")

        # Screen sharing: A shares (headless capture of its own tab), B receives a screen track.
        try:
            a.click('.sovmeet-controls [data-lk-source="screen_share"]', timeout=10000)
            b.wait_for_function(SCREEN_TRACK, timeout=30000)
            result["screen_share"] = {"ok": True}
            french["screen_tile"] = self.text(
                b, '[data-lk-source="screen_share"] .sovmeet-tile-name')
            self.shot(b, "meet-screen-share-b.png")
            self.step("B sees A's shared screen")
        except Exception as err:  # noqa: BLE001 - recorded; the test says what it needs
            result["screen_share"] = {"ok": False, "reason": str(err).splitlines()[0]}
            self.step(f"screen sharing not verified: {result['screen_share']['reason']}")

        # A removes B: B's page leaves the meeting; B's new attempt is refused.
        a.click(f"{b_row} .sovmeet-remove")
        b.wait_for_selector('[data-state="removed"]', timeout=30000)
        result["b_removed_page"] = self.text(b, '[data-state="removed"] h1')
        b.goto(result["link"], timeout=timeout)
        b.click("#join")
        b.wait_for_selector('[data-state="removed"]', timeout=30000)
        result["b_rejoin_refused"] = True
        self.step("A removed B; B cannot rejoin")

        # The guest asks again, camera and microphone off in the pre-join screen; A admits.
        g.goto(result["link"], timeout=timeout)
        g.fill("#display-name", "Gwen")
        g.click("#prejoin-camera")
        g.click("#prejoin-microphone")
        result["guest_toggles"] = {
            "camera": g.get_attribute("#prejoin-camera", "aria-pressed"),
            "microphone": g.get_attribute("#prejoin-microphone", "aria-pressed"),
        }
        g.click("#join")
        g.wait_for_selector('[data-state="waiting"]', timeout=timeout)
        german["lobby"] = self.text(g, '[data-state="waiting"] h1')
        a.click('.sovmeet-lobby li[data-kind="guest"] .sovmeet-admit', timeout=30000)
        g.wait_for_selector("#room-link", timeout=timeout)
        g_row = row("Gwen")
        a.wait_for_selector(g_row, timeout=30000)
        result["guest_in_room"] = {"mic": a.get_attribute(g_row, "data-mic"),
                                   "cam": a.get_attribute(g_row, "data-cam")}
        result["guest_sees_a"] = self.remote_video(g)
        names = "(els) => els.map((e) => e.textContent)"
        result["guest_tiles"] = {
            "seen_by_a": a.eval_on_selector_all(".sovmeet-tile-name", names),
            "seen_by_guest": g.eval_on_selector_all(".sovmeet-tile-name", names)}
        german["room"] = {"hand": self.text(g, "#raise-hand"), "chat": self.text(g, "#tab-chat")}
        self.step("the guest joined with camera and microphone off "
                  f"({json.dumps(result['guest_in_room'])})")

        a.click("#end-meeting")
        a.wait_for_selector('[data-state="ended"]', timeout=30000)
        g.wait_for_selector('[data-state="ended"]', timeout=30000)
        german["ended"] = self.text(g, '[data-state="ended"] h1')
        result["meeting_ended"] = True
        self.step("A ended the meeting for everyone")

        # My rooms: A finds the room on the start page, renames it, then deletes it.
        a.goto(cfg["meet_url"] + "/", timeout=timeout)
        mine = f'.sovmeet-room-row[data-room="{urlparse(result["link"]).path.split("/")[-1]}"]'
        result["my_rooms"] = {"listed": self.text(a, f"{mine} .sovmeet-room-title")}
        a.click(f"{mine} .sovmeet-rename")
        a.fill(f"{mine} .sovmeet-title-input", "Budget 2027")
        a.click(f'{mine} button[type="submit"]')
        a.wait_for_function("(sel) => document.querySelector(sel)?.textContent === 'Budget 2027'",
                            arg=f"{mine} .sovmeet-room-title", timeout=15000)
        result["my_rooms"]["renamed"] = self.text(a, f"{mine} .sovmeet-room-title")
        a.click(f"{mine} .sovmeet-delete")
        a.wait_for_selector(mine, state="detached", timeout=15000)
        result["my_rooms"]["deleted"] = True
        gone = a.goto(result["link"], timeout=timeout)
        result["my_rooms"]["link_after_delete"] = gone.status if gone else None
        self.step("A renamed and deleted the room from My rooms")


def meet(cfg: dict) -> dict:
    """Runs the meeting; returns what each person saw, with ``error`` when a step failed."""
    import traceback

    from playwright.sync_api import sync_playwright

    result: dict = {"requests": [], "websockets": [], "failed": [], "console_errors": [],
                    "steps": [], "screenshots": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=cfg["chromium"], headless=True,
            args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  f"--host-resolver-rules={host_rules(cfg)}", "--no-proxy-server",
                  "--disable-features=WebRtcHideLocalIpsWithMdns",
                  # Screen sharing without a picker: headless chromium captures the tab.
                  "--auto-accept-this-tab-capture",
                  "--auto-select-desktop-capture-source=Entire screen"])
        try:
            Meeting(cfg, result).run(browser)
        except Exception:  # noqa: BLE001 - the record says where it stopped
            result["error"] = traceback.format_exc()[-4000:]
            # What each person saw when it failed, for whoever reads the artifacts.
            for i, ctx in enumerate(browser.contexts):
                for j, page in enumerate(ctx.pages):
                    try:
                        page.screenshot(path=str(Path(cfg["artifacts_dir"])
                                                 / f"meet-failure-{i}-{j}.png"))
                    except Exception:  # noqa: BLE001, S112 - best effort, after a failure
                        continue
        finally:
            browser.close()
    return result


if __name__ == "__main__":
    print(json.dumps(meet(json.loads(Path(sys.argv[1]).read_text()))))
