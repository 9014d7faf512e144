"""LiveKit access tokens: JWT (HS256) signed with the API secret, one room per token.

The claims follow LiveKit's access token format: iss is the API key, sub the participant
identity, and the `video` grant names the one room the token may join.
"""

from __future__ import annotations

import time
import uuid

import jwt


def access_token(api_key: str, api_secret: str, *, identity: str, name: str, room: str,
                 ttl: int, can_publish: bool = True, attributes: dict[str, str] | None = None,
                 now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": api_key,
        "sub": identity,
        "name": name,
        "nbf": issued - 10,
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
        "video": {
            "room": room,
            "roomJoin": True,
            "roomCreate": False,
            "roomList": False,
            "roomAdmin": False,
            "canPublish": can_publish,
            "canSubscribe": True,
            "canPublishData": True,
        },
    }
    if attributes:
        # Set by the server at join; the participant cannot change them (no
        # canUpdateOwnMetadata grant), so others may trust them.
        claims["attributes"] = dict(attributes)
    return jwt.encode(claims, api_secret, algorithm="HS256")


def decode(token: str, api_key: str, api_secret: str) -> dict:
    """Verify a token as LiveKit does (signature, expiry, issuer); raises jwt.InvalidTokenError."""
    claims = jwt.decode(token, api_secret, algorithms=["HS256"],
                        options={"require": ["exp", "iss"]})
    if claims["iss"] != api_key:
        raise jwt.InvalidIssuerError("token of another API key")
    return claims
