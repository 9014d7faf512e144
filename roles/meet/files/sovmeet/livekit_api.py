"""LiveKit's server API (Twirp over HTTPS, JSON): what moderation asks of the SFU.

Every call carries a short-lived token with the roomAdmin grant for the one room it acts on,
signed with the deployment's API secret; the browser never holds such a token.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import httpx
import jwt

SOURCES = {"camera": "CAMERA", "microphone": "MICROPHONE", "screen_share": "SCREEN_SHARE"}
_SOURCE_NUMBERS = {1: "CAMERA", 2: "MICROPHONE", 3: "SCREEN_SHARE", 4: "SCREEN_SHARE_AUDIO"}


class LiveKitError(Exception):
    """The SFU refused or could not be reached; the message is safe to log."""


class NotFound(LiveKitError):
    """No such participant (or room) on the SFU."""


def admin_token(api_key: str, api_secret: str, room: str, ttl: int = 60,
                create: bool = False) -> str:
    """roomAdmin for one room; LiveKit wants roomCreate as well to delete a room."""
    now = int(time.time())
    grant = {"room": room, "roomAdmin": True}
    if create:
        grant["roomCreate"] = True
    return jwt.encode({"iss": api_key, "sub": "sovmeet", "nbf": now - 10, "iat": now,
                       "exp": now + ttl, "jti": uuid.uuid4().hex, "video": grant},
                      api_secret, algorithm="HS256")


def track_source(track: dict) -> str:
    source = track.get("source", 0)
    return _SOURCE_NUMBERS.get(source, "UNKNOWN") if isinstance(source, int) else str(source)


class RoomService:
    def __init__(self, url: str, api_key: str, api_secret: str, http: httpx.AsyncClient):
        self.base = url.rstrip("/") + "/twirp/livekit.RoomService/"
        self.api_key = api_key
        self.api_secret = api_secret
        self.http = http

    async def _call(self, method: str, room: str, body: dict) -> dict:
        token = admin_token(self.api_key, self.api_secret, room, create=method == "DeleteRoom")
        headers = {"Authorization": "Bearer " + token}
        try:
            resp = await self.http.post(self.base + method, json=dict(body, room=room),
                                        headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise LiveKitError(f"{method}: LiveKit unreachable ({type(exc).__name__})") from None
        if resp.status_code == 404:
            raise NotFound(f"{method}: not found")
        if resp.status_code != 200:
            try:
                code = resp.json().get("code", "")
            except ValueError:
                code = ""
            if code == "not_found":
                raise NotFound(f"{method}: not found")
            raise LiveKitError(f"{method}: LiveKit answered {resp.status_code} {code}".rstrip())
        return resp.json()

    async def participants(self, room: str) -> list[dict]:
        try:
            data = await self._call("ListParticipants", room, {})
        except NotFound:
            return []
        return data.get("participants") or []

    async def participant(self, room: str, identity: str) -> dict:
        return await self._call("GetParticipant", room, {"identity": identity})

    async def mute(self, room: str, identity: str, source: str) -> int:
        """Mute the participant's published tracks of this source; how many were muted."""
        info = await self.participant(room, identity)
        wanted = SOURCES[source]
        muted = 0
        for track in info.get("tracks") or []:
            if track_source(track) == wanted and not track.get("muted"):
                await self._call("MutePublishedTrack", room,
                                 {"identity": identity, "track_sid": track["sid"], "muted": True})
                muted += 1
        return muted

    async def remove(self, room: str, identity: str) -> None:
        await self._call("RemoveParticipant", room, {"identity": identity})

    async def set_attributes(self, room: str, identity: str, attributes: dict[str, str]) -> None:
        """Attributes every participant sees; an empty value deletes the attribute."""
        await self._call("UpdateParticipant", room,
                         {"identity": identity, "attributes": attributes})

    async def end(self, room: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call("DeleteRoom", room, {})
