"""Room names and the rooms created through the app (SQLite, in the service's state dir)."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from contextlib import closing
from pathlib import Path

MAX_LENGTH = 48
MIN_LENGTH = 3
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ALPHABET = "abcdefghijkmnopqrstuvwxyz"  # no l: easy to read aloud and type


NAME_RULE = (f"Room names are {MIN_LENGTH} to {MAX_LENGTH} lower-case letters, digits and single "
             "hyphens between them.")


class InvalidRoomName(ValueError):
    """The text is not a room name; the message says why (never echoes the input)."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidRoomName("This link does not name a meeting room.")
    if len(name) > MAX_LENGTH:
        raise InvalidRoomName(f"Room names are at most {MAX_LENGTH} characters long.")
    if len(name) < MIN_LENGTH or not _NAME.match(name):
        raise InvalidRoomName(NAME_RULE)
    return name


def generate_name() -> str:
    """Like abc-defg-hij: about 56 bits, hard to guess, easy to read aloud."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(n)) for n in (3, 4, 3, 4))


class RoomStore:
    def __init__(self, path: str | Path):
        self.path = str(path)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY, created INTEGER)")

    def _connect(self):
        return _Transaction(self.path)

    def create(self, name: str) -> bool:
        """Record a new room; False if the name is taken."""
        check_name(name)
        with self._connect() as db:
            cur = db.execute("INSERT OR IGNORE INTO rooms (name, created) VALUES (?, ?)",
                             (name, int(time.time())))
            return cur.rowcount == 1

    def exists(self, name: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM rooms WHERE name = ?", (name,)).fetchone() is not None


class _Transaction:
    """A connection for one transaction: committed on success, always closed."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path, timeout=5)

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        with closing(self.db):
            if exc_type is None:
                self.db.commit()
