"""The ASGI app: single sign-on, room links, LiveKit tokens and the bundled frontend."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import db, livekit_api, meetings, oidc, rooms
from .config import Config
from .pages import error_page

log = logging.getLogger("sovmeet")

SESSION_COOKIE = "sovmeet_session"
API_HEADER = "x-sovmeet-request"  # a custom header: cross-site requests need a CORS preflight


def _page(status: int, title: str, message: str) -> HTMLResponse:
    return HTMLResponse(error_page(status, title, message), status_code=status)


def _user(request: Request) -> dict | None:
    """The signed-in user of this session, or None (no session, or it has expired)."""
    user = request.session.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("exp"), int):
        return None
    if user["exp"] < time.time():
        request.session.pop("user", None)
        return None
    return user


def create_app(cfg: Config, http: httpx.AsyncClient | None = None) -> Starlette:
    http = http or httpx.AsyncClient(verify=oidc.ssl_context(cfg.oidc_ca_file),
                                     follow_redirects=False, trust_env=False)
    idp = oidc.Client(cfg.oidc_issuer, cfg.oidc_client_id, cfg.oidc_client_secret,
                      cfg.redirect_uri, http)
    store = rooms.RoomStore(cfg.database, cfg.database_password)
    sfu = livekit_api.RoomService(cfg.livekit_api_url, cfg.livekit_api_key,
                                  cfg.livekit_api_secret, http)
    static = Path(cfg.static_dir)
    index_html = (static / "index.html").read_bytes() if (static / "index.html").is_file() else b""
    csp = "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "font-src 'self'",
        "worker-src 'self' blob:",
        f"connect-src 'self' {cfg.livekit_url} {cfg.livekit_url.replace('ws', 'http', 1)}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ])

    def app_page() -> Response:
        return Response(index_html, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    async def to_login(request: Request, next_path: str) -> Response:
        try:
            login = await idp.login_request()
        except oidc.OIDCError as exc:
            log.error("login unavailable: %s", exc)
            return _page(503, "Sign-in is unavailable",
                         "The sign-in service cannot be reached right now. Try again in a minute.")
        request.session["login"] = {"state": login.state, "verifier": login.verifier,
                                    "nonce": login.nonce, "next": next_path,
                                    "at": int(time.time())}
        return RedirectResponse(login.url, status_code=302)

    async def home(request: Request) -> Response:
        if _user(request) is None:
            return await to_login(request, "/")
        return app_page()

    async def room_page(request: Request) -> Response:
        name = request.path_params["room"]
        try:
            rooms.check_name(name)
        except rooms.InvalidRoomName as exc:
            return _page(400, "This is not a meeting link", str(exc))
        user = _user(request)
        if user is None and not cfg.allow_guests:
            return await to_login(request, f"/r/{name}")
        if not await rooms.InThreads(store).exists(name):  # off the event loop
            return _page(404, "Unknown meeting",
                         "No meeting has this link. Check the link you were sent, or start a new "
                         "meeting.")
        return app_page()

    async def sign_in(request: Request) -> Response:
        """A guest on a room's page chooses to sign in: to Keycloak, then back to the room."""
        next_path = request.query_params.get("next", "/")
        if not re.match(r"^/(r/[a-z0-9-]{1,48})?$", next_path):
            next_path = "/"
        return await to_login(request, next_path)

    async def bad_room_link(request: Request) -> Response:
        return _page(400, "This is not a meeting link", rooms.NAME_RULE)

    async def callback(request: Request) -> Response:
        pending = request.session.pop("login", None)
        state = request.query_params.get("state", "")
        if (not isinstance(pending, dict) or not state
                or not secrets.compare_digest(str(pending.get("state", "")), state)
                or int(pending.get("at", 0)) < time.time() - 600):
            return _page(400, "Sign-in expired",
                         "This sign-in attempt is unknown or too old. Start again from the "
                         "meeting link.")
        if "error" in request.query_params or "code" not in request.query_params:
            log.info("login not completed: the identity provider returned no code")
            return _page(401, "Sign-in not completed", "The identity provider did not sign you in.")
        try:
            claims = await idp.exchange(request.query_params["code"], pending["verifier"],
                                        pending["nonce"])
        except oidc.OIDCError as exc:
            log.warning("login refused: %s", exc)
            return _page(401, "Sign-in failed", "Your sign-in could not be confirmed. Try again.")
        display = (claims.get("name") or claims.get("preferred_username") or "Participant")
        request.session.clear()
        request.session["user"] = {
            # A pseudonym: the LiveKit identity never carries the account's id or name.
            "id": hashlib.sha256(f"{cfg.session_secret}:{claims['sub']}".encode()).hexdigest()[:20],
            "name": meetings.clean_text(display) or "Participant",
            "exp": int(time.time()) + cfg.session_lifetime,
        }
        log.info("login completed")
        next_path = pending.get("next", "/")
        if not isinstance(next_path, str) or not re.match(r"^/(r/[a-z0-9-]{1,48})?$", next_path):
            next_path = "/"
        return RedirectResponse(cfg.public_url + next_path, status_code=302)

    async def logout(request: Request) -> Response:
        request.session.clear()
        target = await idp.logout_url(cfg.public_url + "/")
        return RedirectResponse(target or cfg.public_url + "/", status_code=302)

    def api_refusal(request: Request) -> Response | None:
        """Refuse API calls that a page of another site could have made."""
        origin = request.headers.get("origin")
        if request.headers.get(API_HEADER) != "1" or (origin is not None and origin != cfg.origin):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        return None

    async def session_info(request: Request) -> Response:
        user = _user(request)
        return JSONResponse({"user": {"name": user["name"]} if user else None,
                             "guests": cfg.allow_guests},
                            headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not found"}, status_code=404)
        return _page(404, "Page not found", "There is nothing at this address.")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return await not_found(request, exc)
        return _page(exc.status_code, "Request refused", "This request cannot be served.")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("internal error: %s", type(exc).__name__)
        return _page(500, "Something went wrong", "The meeting service hit an internal error.")

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        log.error("the rooms database cannot be reached (%s)", exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "the meeting service cannot reach its database; "
                                          "try again in a moment"}, status_code=503)
        return _page(503, "Meetings are unavailable",
                     "The meeting service cannot reach its database. Try again in a moment.")

    routes = [
        Route("/", home),
        Route("/r/{room}", room_page),
        # Anything else under /r/ (a decoded "/" in it, say) is not a room link either.
        Route("/r/{rest:path}", bad_room_link),
        Route("/login", sign_in),
        Route("/auth/callback", callback),
        Route("/logout", logout),
        Route("/healthz", health),
        Route("/api/session", session_info),
        *meetings.routes(cfg, store, sfu, user_of=_user, api_refusal=api_refusal),
    ]
    if (static / "assets").is_dir():
        routes.append(Mount("/assets", app=StaticFiles(directory=static / "assets")))

    extra_headers = [
        (b"content-security-policy", csp.encode()),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", b"camera=(self), microphone=(self), display-capture=(self)"),
        (b"x-content-type-options", b"nosniff"),
    ]

    class SecurityHeaders:
        """The same security headers on every response, errors included."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", [])) + extra_headers
                    message = dict(message, headers=headers)
                await send(message)

            await self.app(scope, receive, send_with_headers)

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(SessionMiddleware, secret_key=cfg.session_secret,
                       session_cookie=SESSION_COOKIE, max_age=cfg.session_lifetime,
                       same_site="lax", https_only=True),
        ],
        exception_handlers={HTTPException: http_error, 404: not_found, 500: server_error,
                            db.Unavailable: database_unavailable,
                            Exception: server_error},
    )
    app.state.config = cfg
    app.state.rooms = store
    return app
