"""The app's settings: one JSON file written by roles/meet (mode 0640, it holds secrets)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SECRET_MIN = 32


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Config:
    public_url: str  # https://meet.example.eu (no trailing slash)
    oidc_issuer: str  # https://id.example.eu/realms/sov
    oidc_client_id: str
    oidc_client_secret: str
    oidc_ca_file: str  # CA bundle that signs Keycloak's certificate
    livekit_url: str  # wss://rtc.example.eu
    livekit_api_key: str
    livekit_api_secret: str
    session_secret: str
    static_dir: str
    database: str  # postgresql://USER@HOST:PORT/NAME?sslmode=... or an SQLite file's path
    allow_guests: bool = False
    session_lifetime: int = 36000
    token_ttl: int = 3600
    listen_host: str = "127.0.0.1"
    listen_port: int = 8090
    log_level: str = "info"
    # LiveKit's server API (moderation); derived from livekit_url when empty.
    livekit_api_url: str = ""
    database_password: str = ""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def redirect_uri(self) -> str:
        return self.public_url + "/auth/callback"


_HTTPS = re.compile(r"^https://[^\s/?#]+(/[^\s?#]*)?$")
_WSS = re.compile(r"^wss?://[^\s/?#]+/?$")


def from_dict(data: dict) -> Config:
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a JSON object")
    known = set(Config.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        cfg = Config(**data)
    except TypeError as exc:
        raise ConfigError(f"missing setting: {exc}") from None
    cfg = Config(**dict(data, public_url=cfg.public_url.rstrip("/"),
                        livekit_api_url=(cfg.livekit_api_url or cfg.livekit_url.replace(
                            "ws", "http", 1)).rstrip("/")))
    problems = []
    if not _HTTPS.match(cfg.public_url) or urlsplit(cfg.public_url).path not in ("", "/"):
        problems.append("public_url must be https://HOST without a path")
    if not _HTTPS.match(cfg.oidc_issuer):
        problems.append("oidc_issuer must be an https URL")
    if not _WSS.match(cfg.livekit_url):
        problems.append("livekit_url must be wss://HOST")
    if not _HTTPS.match(cfg.livekit_api_url):
        problems.append("livekit_api_url must be an https URL")
    for name in ("oidc_client_id", "livekit_api_key"):
        if not re.match(r"^[A-Za-z0-9_.-]{3,}$", str(getattr(cfg, name))):
            problems.append(f"{name} must be 3+ characters of A-Z a-z 0-9 _ . -")
    for name in ("oidc_client_secret", "livekit_api_secret", "session_secret"):
        if not isinstance(getattr(cfg, name), str) or len(getattr(cfg, name)) < SECRET_MIN:
            problems.append(f"{name} must be at least {SECRET_MIN} characters")
    if not isinstance(cfg.allow_guests, bool):
        problems.append("allow_guests must be true or false")
    for name, low, high in (("session_lifetime", 300, 7 * 86400), ("token_ttl", 30, 86400),
                            ("listen_port", 1024, 65535)):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append(f"{name} must be an integer from {low} to {high}")
    if cfg.database.startswith(("postgresql://", "postgres://")):
        if len(cfg.database_password) < 16:
            problems.append("database_password must be at least 16 characters with PostgreSQL")
    elif not cfg.database.startswith("/"):
        problems.append("database must be a postgresql:// URL or an absolute SQLite path")
    if cfg.log_level not in ("debug", "info", "warning", "error"):
        problems.append("log_level must be debug, info, warning or error")
    if problems:
        raise ConfigError("; ".join(problems))
    return cfg


def load(path: str | Path) -> Config:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    return from_dict(data)


def check_files(cfg: Config) -> list[str]:
    """Problems with the files the settings name (the role's validate step runs this)."""
    problems = []
    if not Path(cfg.oidc_ca_file).is_file():
        problems.append(f"oidc_ca_file {cfg.oidc_ca_file} does not exist")
    if not (Path(cfg.static_dir) / "index.html").is_file():
        problems.append(f"static_dir {cfg.static_dir} has no index.html (the built frontend)")
    if cfg.database.startswith("/") and not Path(cfg.database).parent.is_dir():
        problems.append(f"the directory of database {cfg.database} does not exist")
    return problems
