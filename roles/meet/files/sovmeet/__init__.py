"""sovmeet: the meeting web app of sovctl.

A small ASGI app (Starlette) in front of LiveKit: single sign-on with OpenID Connect
(authorization code + PKCE) against the deployment's Keycloak, shareable room links, and
LiveKit access tokens with per-room grants for signed-in users (and guests, where the
site allows them). It serves the bundled React frontend (LiveKit's components) itself,
so every asset comes from the deployment. It runs from Debian packages only
(python3-starlette, python3-uvicorn, python3-httpx, python3-jwt, python3-itsdangerous).
"""

__version__ = "1.0.0"
