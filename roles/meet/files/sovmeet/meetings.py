"""The meeting API: rooms and their settings, joining (directly or through the lobby),
moderation, raised hands.

Every decision is the backend's: who joins directly, who waits, who may moderate. Moderation
acts on the SFU through LiveKit's server API; the browser only asks. Refusals are JSON with
a sentence (`error`) and never echo the input.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import livekit_api, livekit_token, rooms
from .config import Config

log = logging.getLogger("sovmeet")

_IDENTITY = re.compile(r"^([ug]-[0-9a-f]{16,20})-[0-9a-f]{6}$")
NOT_MODERATOR = "only the room's owner and moderators can do this"
NOT_OWNER = "only the room's owner can do this"
NAME_MAX = 40  # display names


def clean_text(value: object, limit: int = NAME_MAX) -> str | None:
    """A display name or title: printable, single-spaced, 1 to limit characters; else None."""
    if not isinstance(value, str) or len(value) > 4 * limit:
        return None
    text = "".join(c for c in unicodedata.normalize("NFC", value)
                   if unicodedata.category(c)[0] not in ("C", "Z") or c == " ")
    text = re.sub(r"\s+", " ", text).strip()
    return text if 1 <= len(text) <= limit else None


def guest_principal(request: Request, create: bool = False) -> str | None:
    """The guest of this session (a random id kept in the signed cookie), made on request."""
    guest = request.session.get("guest")
    if isinstance(guest, dict) and isinstance(guest.get("id"), str):
        return "g-" + guest["id"]
    if not create:
        return None
    guest = {"id": secrets.token_hex(8)}
    request.session["guest"] = guest
    return "g-" + guest["id"]


def principal_of(identity: object) -> str | None:
    """Who a LiveKit identity belongs to (u-<pseudonym> or g-<guest id>), or None."""
    match = _IDENTITY.match(identity) if isinstance(identity, str) else None
    return match.group(1) if match else None


def _error(code: int, message: str, **extra) -> JSONResponse:
    return JSONResponse(dict(extra, error=message), status_code=code,
                        headers={"Cache-Control": "no-store"})


def _ok(data: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


async def _body(request: Request) -> dict:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def routes(cfg: Config, store: rooms.RoomStore, sfu: livekit_api.RoomService, *,
           user_of: Callable, api_refusal: Callable) -> list[Route]:
    """The API's routes; user_of reads the signed-in user of the session."""
    store = rooms.InThreads(store)

    def link(name: str) -> str:
        return f"{cfg.public_url}/r/{name}"

    def who(request: Request) -> tuple[str | None, dict | None]:
        """(principal, signed-in user) of the session."""
        user = user_of(request)
        if user is not None:
            return "u-" + user["id"], user
        return guest_principal(request), None

    async def room_view(room: rooms.Room, principal: str | None) -> dict:
        if principal and principal == room.owner:
            role = "owner"
        elif await store.is_moderator(room.name, principal):
            role = "moderator"
        else:
            role = "participant"
        return {"room": room.name, "title": room.title, "access": room.access, "role": role,
                "link": link(room.name), "created": room.created, "guests": cfg.allow_guests}

    def guarded(handler, *, signed_in=False, moderator=False, owner=False, room=True):
        """Refuse cross-site calls, bad room names, unknown rooms and callers without the
        right, before the handler runs; it gets (request, principal, user, room)."""

        async def endpoint(request: Request) -> Response:
            refused = api_refusal(request)
            if refused:
                return refused
            principal, user = who(request)
            if (moderator or owner) and user is None:
                # No valid session (none, forged or expired) never moderates: refused, and
                # told where to sign in.
                log.warning("refused: %s without a valid session", handler.__name__)
                return _error(403, NOT_OWNER if owner else NOT_MODERATOR,
                              login=cfg.public_url + "/")
            if signed_in and user is None:
                return _error(401, "sign in first", login=cfg.public_url + "/")
            found = None
            if room:
                try:
                    rooms.check_name(request.path_params["room"])
                except rooms.InvalidRoomName as exc:
                    return _error(400, str(exc))
                found = await store.get(request.path_params["room"])
                if found is None:
                    return _error(404, "unknown meeting")
                if owner and principal != found.owner:
                    log.warning("refused: %s by a non-owner", handler.__name__)
                    return _error(403, NOT_OWNER)
                if moderator and not await store.is_moderator(found.name, principal):
                    log.warning("refused: %s by a non-moderator", handler.__name__)
                    return _error(403, NOT_MODERATOR)
            try:
                return await handler(request, principal, user, found)
            except livekit_api.NotFound:
                return _error(404, "no such participant in this meeting")
            except livekit_api.LiveKitError as exc:
                log.error("conferencing unavailable: %s", exc)
                return _error(503, "the conferencing service cannot be reached; try again")

        endpoint.__name__ = handler.__name__
        return endpoint

    # ------------------------------------------------------------------ rooms

    def settings_from(body: dict) -> tuple[dict, str | None]:
        out = {}
        if "title" in body:
            title = body["title"]
            if title in ("", None):
                out["title"] = ""
            else:
                clean = clean_text(title, rooms.TITLE_MAX)
                if clean is None:
                    return {}, f"a title is 1 to {rooms.TITLE_MAX} characters"
                out["title"] = clean
        if "access" in body:
            if body["access"] not in rooms.ACCESS_LEVELS:
                return {}, "access is one of " + ", ".join(rooms.ACCESS_LEVELS)
            out["access"] = body["access"]
        return out, None

    async def create_room(request, principal, user, _room):
        changes, problem = settings_from(await _body(request))
        if problem:
            return _error(400, problem)
        for _ in range(5):
            name = rooms.generate_name()
            if await store.create(name, owner=principal,
                            access=changes.get("access", rooms.DEFAULT_ACCESS)):
                if changes.get("title"):
                    await store.update(name, title=changes["title"])
                log.info("room created")
                return _ok(await room_view(await store.get(name), principal), 201)
        return _error(503, "could not find a free room name")

    async def my_rooms(request, principal, user, _room):
        owned = await store.owned_by(principal)
        return _ok({"rooms": [await room_view(r, principal) for r in owned]})

    async def room_info(request, principal, user, room):
        if user is None and not cfg.allow_guests:
            return _error(401, "sign in first", login=link(room.name))
        return _ok(await room_view(room, principal))

    async def change_settings(request, principal, user, room):
        changes, problem = settings_from(await _body(request))
        if problem or not changes:
            return _error(400, problem or "nothing to change: give a title or an access level")
        await store.update(room.name, **changes)
        log.info("room settings changed")
        return _ok(await room_view(await store.get(room.name), principal))

    async def delete_room(request, principal, user, room):
        await sfu.end(room.name)
        await store.delete(room.name)
        log.info("room deleted")
        return _ok({"deleted": room.name})

    # ------------------------------------------------------------------ joining

    async def grant(room: rooms.Room, principal: str, display: str, kind: str) -> dict:
        view = await room_view(room, principal)
        token = livekit_token.access_token(
            cfg.livekit_api_key, cfg.livekit_api_secret,
            identity=f"{principal}-{secrets.token_hex(3)}", name=display, room=room.name,
            ttl=cfg.token_ttl, attributes={"role": view["role"], "kind": kind})
        log.info("token issued (%s)", kind)
        return {"status": "joined", "token": token, "url": cfg.livekit_url, "room": room.name,
                "link": link(room.name), "name": display, "role": view["role"],
                "title": room.title, "access": room.access}

    async def enters_directly(room: rooms.Room, principal: str, signed_in: bool) -> bool:
        if (await store.is_moderator(room.name, principal)
                or await store.is_admitted(room.name, principal)):
            return True
        if room.access == "public":
            return True
        return room.access == "trusted" and signed_in

    async def join(request, principal, user, room):
        body = await _body(request)
        if user is not None:
            display, kind = user["name"], "member"
        elif not cfg.allow_guests:
            return _error(401, "sign in first", login=link(room.name))
        else:
            display = clean_text(body.get("guest_name"))
            if display is None:
                return _error(400, f"a display name of 1 to {NAME_MAX} characters is needed",
                              guest=True)
            principal = guest_principal(request, create=True)
            kind = "guest"  # shown as such, in each viewer's language, by the app
        if await store.is_removed(room.name, principal):
            log.info("join refused: removed from the meeting")
            return _error(403, "you were removed from this meeting", removed=True)
        if await enters_directly(room, principal, user is not None):
            return _ok(await grant(room, principal, display, kind))
        try:
            waiting = await store.knock(room.name, principal, display, kind,
                                  request.client.host if request.client else "-")
        except rooms.TooManyRequests as exc:
            return _error(429, str(exc))
        log.info("waiting in the lobby (%s)", kind)
        return _ok({"status": "waiting", "lobby": waiting.id, "room": room.name,
                    "title": room.title}, 202)

    async def lobby_poll(request, principal, user, room):
        waiting = await store.waiting_request(request.path_params["wait"])
        if waiting is None or waiting.room != room.name or waiting.principal != principal:
            return _error(410, "this request to join has expired; ask again", status="expired")
        if waiting.status == "denied":
            return _ok({"status": "denied"})
        if waiting.status == "admitted" and not await store.is_removed(room.name, principal):
            return _ok(await grant(room, principal, waiting.name, waiting.kind))
        await store.seen(waiting.id)
        return _ok({"status": "waiting", "lobby": waiting.id}, 202)

    async def lobby_list(request, principal, user, room):
        now = int(time.time())
        return _ok({"waiting": [{"id": w.id, "name": w.name, "kind": w.kind,
                                 "waiting_seconds": now - w.created}
                                for w in await store.waiting(room.name)]})

    async def lobby_decide(request, principal, user, room):
        if request.path_params["decision"] not in ("admit", "deny"):
            return _error(404, "not found")
        admit = request.path_params["decision"] == "admit"
        decided = await store.decide(room.name, request.path_params["wait"], admit)
        if decided is None:
            return _error(404, "nobody with this request is waiting any more")
        log.info("lobby request %s", "admitted" if admit else "denied")
        return _ok({"id": decided.id, "status": decided.status})

    # ------------------------------------------------------------------ moderation

    def target(request) -> str:
        identity = request.path_params["identity"]
        if principal_of(identity) is None:
            raise ValueError("not a participant id of this app")
        return identity

    def source_of(body: dict) -> str | None:
        source = body.get("source", "microphone")
        return source if source in ("microphone", "camera") else None

    async def mute(request, principal, user, room):
        source = source_of(await _body(request))
        if source is None:
            return _error(400, "source is microphone or camera")
        count = await sfu.mute(room.name, target(request), source)
        log.info("moderator muted a participant's %s", source)
        return _ok({"muted": count})

    async def mute_all(request, principal, user, room):
        source = source_of(await _body(request))
        if source is None:
            return _error(400, "source is microphone or camera")
        count = 0
        for participant in await sfu.participants(room.name):
            other = participant.get("identity")
            if principal_of(other) and principal_of(other) != principal:
                count += await sfu.mute(room.name, other, source)
        log.info("moderator muted everyone's %s", source)
        return _ok({"muted": count})

    async def remove(request, principal, user, room):
        identity = target(request)
        removed = principal_of(identity)
        if removed == room.owner:
            return _error(403, "the room's owner cannot be removed")
        await sfu.participant(room.name, identity)  # 404 if not in the meeting
        await store.remove(room.name, removed)
        # Every connection of that person leaves, not only the one clicked.
        for participant in await sfu.participants(room.name):
            if principal_of(participant.get("identity")) == removed:
                await sfu.remove(room.name, participant["identity"])
        log.info("moderator removed a participant")
        return _ok({"removed": identity})

    async def promote(request, principal, user, room):
        identity = target(request)
        promoted = principal_of(identity)
        if not promoted.startswith("u-"):
            return _error(400, "guests cannot be moderators: only signed-in users")
        await sfu.participant(room.name, identity)  # 404 if not in the meeting
        await store.add_moderator(room.name, promoted)
        for participant in await sfu.participants(room.name):
            if principal_of(participant.get("identity")) == promoted:
                await sfu.set_attributes(room.name, participant["identity"],
                                         {"role": "moderator"})
        log.info("moderator promoted a participant")
        return _ok({"promoted": identity})

    async def end(request, principal, user, room):
        await sfu.end(room.name)
        await store.meeting_ended(room.name)
        log.info("meeting ended for all")
        return _ok({"ended": room.name})

    async def hand(request, principal, user, room):
        body = await _body(request)
        identity = body.get("identity")
        if principal is None or principal_of(identity) != principal:
            return _error(403, "you can only raise your own hand")
        raised = body.get("raised")
        if not isinstance(raised, bool):
            return _error(400, "raised is true or false")
        # The server's clock orders the raised hands for everyone.
        await sfu.set_attributes(room.name, identity,
                                 {"hand": str(int(time.time() * 1000)) if raised else ""})
        return _ok({"raised": raised})

    def bad_target(handler):
        async def wrapped(request, principal, user, room):
            try:
                return await handler(request, principal, user, room)
            except ValueError as exc:
                return _error(400, str(exc))
        wrapped.__name__ = handler.__name__
        return wrapped

    mod = dict(moderator=True)
    base = "/api/rooms/{room}"
    return [
        Route("/api/rooms", guarded(my_rooms, signed_in=True, room=False), methods=["GET"]),
        Route("/api/rooms", guarded(create_room, signed_in=True, room=False), methods=["POST"]),
        Route(base, guarded(room_info), methods=["GET"]),
        Route(base + "/settings", guarded(change_settings, owner=True), methods=["POST"]),
        Route(base + "/delete", guarded(delete_room, owner=True), methods=["POST"]),
        Route(base + "/token", guarded(join), methods=["POST"]),
        Route(base + "/lobby", guarded(lobby_list, **mod), methods=["GET"]),
        Route(base + "/lobby/{wait}", guarded(lobby_poll), methods=["POST"]),
        Route(base + "/lobby/{wait}/{decision:str}", guarded(lobby_decide, **mod),
              methods=["POST"]),
        Route(base + "/participants/{identity}/mute", guarded(bad_target(mute), **mod),
              methods=["POST"]),
        Route(base + "/participants/{identity}/remove", guarded(bad_target(remove), **mod),
              methods=["POST"]),
        Route(base + "/participants/{identity}/promote", guarded(bad_target(promote), **mod),
              methods=["POST"]),
        Route(base + "/mute-all", guarded(mute_all, **mod), methods=["POST"]),
        Route(base + "/end", guarded(end, **mod), methods=["POST"]),
        Route(base + "/hand", guarded(hand), methods=["POST"]),
    ]
