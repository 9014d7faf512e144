"""OpenID Connect client: authorization code flow with PKCE (S256) against Keycloak.

The app is a confidential client: the code exchange also authenticates with the client
secret. The ID token's signature is checked against the issuer's JWKS, with its issuer,
audience, expiry and nonce. Every call to Keycloak trusts only the CA bundle in the
settings (the deployment's internal CA, or the public CAs with ACME certificates).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
CACHE_SECONDS = 300


class OIDCError(Exception):
    """Login failed; the message is safe to log (no tokens, no personal data)."""


@dataclass
class LoginRequest:
    url: str
    state: str
    verifier: str
    nonce: str


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def ssl_context(ca_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Client:
    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str,
                 http: httpx.AsyncClient):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.http = http
        self._meta: dict | None = None
        self._meta_at = 0.0
        self._jwks: dict | None = None
        self._jwks_at = 0.0

    async def _get_json(self, url: str) -> dict:
        try:
            resp = await self.http.get(url, timeout=10)
        except httpx.HTTPError as exc:
            raise OIDCError(f"identity provider unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OIDCError(f"identity provider answered HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise OIDCError("identity provider sent invalid JSON") from None

    async def metadata(self) -> dict:
        if self._meta is None or time.monotonic() - self._meta_at > CACHE_SECONDS:
            meta = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if meta.get("issuer") != self.issuer:
                raise OIDCError("the discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not str(meta.get(key, "")).startswith("https://"):
                    raise OIDCError(f"the discovery document has no https {key}")
            self._meta, self._meta_at = meta, time.monotonic()
        return self._meta

    async def _jwk_set(self, refresh: bool = False) -> dict:
        if refresh or self._jwks is None or time.monotonic() - self._jwks_at > CACHE_SECONDS:
            self._jwks = await self._get_json((await self.metadata())["jwks_uri"])
            self._jwks_at = time.monotonic()
        return self._jwks

    async def login_request(self) -> LoginRequest:
        meta = await self.metadata()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = urlencode({
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        return LoginRequest(f"{meta['authorization_endpoint']}?{query}", state, verifier, nonce)

    async def logout_url(self, post_logout_redirect_uri: str) -> str | None:
        try:
            meta = await self.metadata()
        except OIDCError:
            return None
        endpoint = meta.get("end_session_endpoint")
        if not endpoint:
            return None
        return endpoint + "?" + urlencode({"client_id": self.client_id,
                                           "post_logout_redirect_uri": post_logout_redirect_uri})

    async def exchange(self, code: str, verifier: str, nonce: str) -> dict:
        """Trade the code for tokens; return the verified ID token's claims."""
        meta = await self.metadata()
        try:
            resp = await self.http.post(meta["token_endpoint"], timeout=10, data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            })
        except httpx.HTTPError as exc:
            raise OIDCError(f"token endpoint unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OIDCError(f"the token endpoint refused the code (HTTP {resp.status_code})")
        try:
            id_token = resp.json()["id_token"]
        except (ValueError, KeyError):
            raise OIDCError("the token response has no ID token") from None
        claims = await self.verify_id_token(id_token)
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OIDCError("the ID token's nonce does not match the login request")
        return claims

    async def verify_id_token(self, id_token: str) -> dict:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise OIDCError("the ID token is malformed") from None
        if header.get("alg") not in ALGORITHMS:
            raise OIDCError("the ID token uses an algorithm that is not allowed")
        key = await self._key(header.get("kid"))
        try:
            return jwt.decode(id_token, key, algorithms=ALGORITHMS, audience=self.client_id,
                              issuer=self.issuer, leeway=30,
                              options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.InvalidTokenError as exc:
            raise OIDCError(f"the ID token is not valid ({type(exc).__name__})") from None

    async def _key(self, kid: str | None):
        for refresh in (False, True):  # a key rotated at the issuer: fetch the set once more
            for jwk in (await self._jwk_set(refresh)).get("keys", []):
                if jwk.get("use", "sig") == "sig" and (kid is None or jwk.get("kid") == kid):
                    try:
                        return jwt.PyJWK(json.loads(json.dumps(jwk))).key
                    except jwt.PyJWKError:
                        continue
        raise OIDCError("the ID token is signed with a key the issuer does not publish")
