"""Rooms and who may enter them: owner, access level, moderators, removals and the lobby.

Everything the app decides from is in the database (PostgreSQL in deployments, see db.py),
never in a process's memory, so the decisions of one request hold for the next, on any of
the site's meet nodes.
A principal is who a participant is across tokens: `u-<user pseudonym>` for a signed-in
user, `g-<random>` for a guest (kept in the guest's session cookie).
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from dataclasses import dataclass

import anyio

from .db import Database, SQLite, open_database

MAX_LENGTH = 48
MIN_LENGTH = 3
TITLE_MAX = 80
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ALPHABET = "abcdefghijkmnopqrstuvwxyz"  # no l: easy to read aloud and type
ACCESS_LEVELS = ("public", "trusted", "restricted")
DEFAULT_ACCESS = "trusted"

NAME_RULE = (f"Room names are {MIN_LENGTH} to {MAX_LENGTH} lower-case letters, digits and single "
             "hyphens between them.")

# The lobby's bounds: a request waits at most LOBBY_MAX_WAIT seconds, and is dropped when its
# browser has not asked for news for LOBBY_IDLE seconds (the page was closed).
LOBBY_MAX_WAIT = 900
LOBBY_IDLE = 30
LOBBY_ROOM_LIMIT = 50  # waiting at once in one room
LOBBY_RATE = 5  # requests per principal and room per minute
LOBBY_ADDRESS_RATE = 30  # requests per client address per minute, all rooms
REMOVAL_SECONDS = 12 * 3600  # a removed participant stays out of the meeting this long


class InvalidRoomName(ValueError):
    """The text is not a room name; the message says why (never echoes the input)."""


class TooManyRequests(Exception):
    """A lobby bound was reached; the message says which (safe to show)."""


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


@dataclass(frozen=True)
class Room:
    name: str
    owner: str | None  # principal; None for rooms created before rooms had owners
    title: str
    access: str
    created: int


@dataclass(frozen=True)
class Waiting:
    id: str
    room: str
    principal: str
    name: str
    kind: str  # member | guest
    status: str  # waiting | admitted | denied
    created: int
    seen: int


_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY, created BIGINT)""",
    """CREATE TABLE IF NOT EXISTS moderators (
        room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
        principal TEXT NOT NULL, PRIMARY KEY (room, principal))""",
    """CREATE TABLE IF NOT EXISTS removals (
        room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
        principal TEXT NOT NULL, until BIGINT NOT NULL, PRIMARY KEY (room, principal))""",
    """CREATE TABLE IF NOT EXISTS admissions (
        room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
        principal TEXT NOT NULL, until BIGINT NOT NULL, PRIMARY KEY (room, principal))""",
    """CREATE TABLE IF NOT EXISTS lobby (
        id TEXT PRIMARY KEY,
        room TEXT NOT NULL REFERENCES rooms(name) ON DELETE CASCADE,
        principal TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        address TEXT NOT NULL, status TEXT NOT NULL,
        created BIGINT NOT NULL, seen BIGINT NOT NULL, arrived BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS lobby_room ON lobby (room, status)",
    "CREATE INDEX IF NOT EXISTS rooms_owner ON rooms (owner)",
]
# Columns added to rooms since the first release (an upgrade keeps every room).
_ROOM_COLUMNS = {"owner": "TEXT", "title": "TEXT NOT NULL DEFAULT ''",
                 "access": f"TEXT NOT NULL DEFAULT '{DEFAULT_ACCESS}'"}


class RoomStore:
    def __init__(self, database: Database | str, password: str = ""):
        self.db = (database if isinstance(database, Database)
                   else open_database(str(database), password))
        self.db.on_connect = self._ensure_schema
        if hasattr(self.db, "open"):
            self.db.open()  # every new connection ensures the schema (a database built afresh)
        else:
            with self._connect() as db:
                self._ensure_schema(db)

    def _ensure_schema(self, db) -> None:
        """Create the tables, or add the columns later releases added; idempotent."""
        if hasattr(self.db, "lock_schema"):
            self.db.lock_schema(db)
        db.execute(_SCHEMA[0])
        have = self.db.columns(db, "rooms")
        for column, kind in _ROOM_COLUMNS.items():
            if column not in have:
                db.execute(f"ALTER TABLE rooms ADD COLUMN {column} {kind}")
        for statement in _SCHEMA[1:]:
            db.execute(statement)

    @property
    def path(self) -> str | None:
        return self.db.path if isinstance(self.db, SQLite) else None

    def _connect(self):
        return self.db.transaction()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ rooms

    def create(self, name: str, owner: str | None = None, access: str = DEFAULT_ACCESS) -> bool:
        """Record a new room; False if the name is taken."""
        check_name(name)
        with self._connect() as db:
            cur = db.execute("INSERT INTO rooms (name, created, owner, access) "
                             "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                             (name, int(time.time()), owner, access))
            return cur.rowcount == 1

    def exists(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, name: str) -> Room | None:
        with self._connect() as db:
            row = db.execute("SELECT name, owner, title, access, created FROM rooms "
                             "WHERE name = ?", (name,)).fetchone()
        return Room(*row) if row else None

    def owned_by(self, owner: str) -> list[Room]:
        with self._connect() as db:
            rows = db.execute("SELECT name, owner, title, access, created FROM rooms "
                              "WHERE owner = ? ORDER BY created DESC, name", (owner,)).fetchall()
        return [Room(*row) for row in rows]

    def update(self, name: str, *, title: str | None = None, access: str | None = None) -> None:
        with self._connect() as db:
            if title is not None:
                db.execute("UPDATE rooms SET title = ? WHERE name = ?", (title, name))
            if access is not None:
                if access not in ACCESS_LEVELS:
                    raise ValueError(access)
                db.execute("UPDATE rooms SET access = ? WHERE name = ?", (access, name))

    def delete(self, name: str) -> bool:
        with self._connect() as db:
            return db.execute("DELETE FROM rooms WHERE name = ?", (name,)).rowcount == 1

    # ------------------------------------------------------------------ roles in a room

    def is_moderator(self, name: str, principal: str | None) -> bool:
        if not principal:
            return False
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM rooms WHERE name = ? AND owner = ? UNION ALL "
                "SELECT 1 FROM moderators WHERE room = ? AND principal = ?",
                (name, principal, name, principal)).fetchone()
        return row is not None

    def add_moderator(self, name: str, principal: str) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO moderators (room, principal) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", (name, principal))

    def remove(self, name: str, principal: str, seconds: int = REMOVAL_SECONDS) -> None:
        """Keep a removed participant out of the meeting (no token, no lobby)."""
        with self._connect() as db:
            db.execute("INSERT INTO removals (room, principal, until) VALUES (?, ?, ?) "
                       "ON CONFLICT (room, principal) DO UPDATE SET until = excluded.until",
                       (name, principal, int(time.time()) + seconds))
            db.execute("DELETE FROM moderators WHERE room = ? AND principal = ?", (name, principal))
            db.execute("DELETE FROM admissions WHERE room = ? AND principal = ?", (name, principal))
            db.execute("UPDATE lobby SET status = 'denied' WHERE room = ? AND principal = ? "
                       "AND status IN ('waiting', 'admitted')", (name, principal))

    def is_removed(self, name: str, principal: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM removals WHERE room = ? AND principal = ? "
                             "AND until > ?", (name, principal, int(time.time()))).fetchone()
        return row is not None

    def is_admitted(self, name: str, principal: str) -> bool:
        """Admitted from the lobby during this meeting (a reload does not send them back)."""
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM admissions WHERE room = ? AND principal = ? "
                             "AND until > ?", (name, principal, int(time.time()))).fetchone()
        return row is not None

    def meeting_ended(self, name: str) -> None:
        """The meeting is over for all: removals and waiting requests end with it."""
        with self._connect() as db:
            db.execute("DELETE FROM removals WHERE room = ?", (name,))
            db.execute("DELETE FROM admissions WHERE room = ?", (name,))
            db.execute("UPDATE lobby SET status = 'denied' WHERE room = ? AND status = 'waiting'",
                       (name,))

    # ------------------------------------------------------------------ the lobby

    def _expire(self, db, now: int) -> None:
        db.execute("DELETE FROM lobby WHERE created < ? OR (status = 'waiting' AND seen < ?)",
                   (now - LOBBY_MAX_WAIT, now - LOBBY_IDLE))

    def knock(self, name: str, principal: str, display: str, kind: str, address: str) -> Waiting:
        """A waiting request for this principal (its pending one, if any), within the bounds."""
        now = int(time.time())
        with self._connect() as db:
            self._expire(db, now)
            row = db.execute("SELECT id FROM lobby WHERE room = ? AND principal = ? "
                             "AND status = 'waiting'", (name, principal)).fetchone()
            if row:
                db.execute("UPDATE lobby SET seen = ?, name = ? WHERE id = ?",
                           (now, display, row[0]))
                wait_id = row[0]
            else:
                recent = db.execute("SELECT count(*) FROM lobby WHERE room = ? AND principal = ? "
                                    "AND created > ?", (name, principal, now - 60)).fetchone()[0]
                if recent >= LOBBY_RATE:
                    raise TooManyRequests("too many requests to join this meeting: wait a minute")
                burst = db.execute("SELECT count(*) FROM lobby WHERE address = ? AND created > ?",
                                   (address, now - 60)).fetchone()[0]
                if burst >= LOBBY_ADDRESS_RATE:
                    raise TooManyRequests("too many requests from this address: wait a minute")
                waiting = db.execute("SELECT count(*) FROM lobby WHERE room = ? "
                                     "AND status = 'waiting'", (name,)).fetchone()[0]
                if waiting >= LOBBY_ROOM_LIMIT:
                    raise TooManyRequests("too many people are waiting to join this meeting")
                wait_id = secrets.token_urlsafe(16)
                db.execute("INSERT INTO lobby (id, room, principal, name, kind, address, status, "
                           "created, seen, arrived) VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?)",
                           (wait_id, name, principal, display, kind, address, now, now,
                            time.time_ns() // 1000))
        return self.waiting_request(wait_id)

    def waiting_request(self, wait_id: str) -> Waiting | None:
        with self._connect() as db:
            self._expire(db, int(time.time()))
            row = db.execute("SELECT id, room, principal, name, kind, status, created, seen "
                             "FROM lobby WHERE id = ?", (wait_id,)).fetchone()
        return Waiting(*row) if row else None

    def seen(self, wait_id: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE lobby SET seen = ? WHERE id = ?", (int(time.time()), wait_id))

    def waiting(self, name: str) -> list[Waiting]:
        with self._connect() as db:
            self._expire(db, int(time.time()))
            rows = db.execute("SELECT id, room, principal, name, kind, status, created, seen "
                              "FROM lobby WHERE room = ? AND status = 'waiting' "
                              "ORDER BY arrived, id", (name,)).fetchall()
        return [Waiting(*row) for row in rows]

    def decide(self, name: str, wait_id: str, admit: bool) -> Waiting | None:
        """Admit or deny a waiting request of this room; None if there is none (or it expired).

        Admission lasts for the meeting (REMOVAL_SECONDS at most): a reload does not send the
        participant back to the lobby."""
        now = int(time.time())
        with self._connect() as db:
            self._expire(db, now)
            row = db.execute("SELECT principal FROM lobby WHERE id = ? AND room = ? "
                             "AND status = 'waiting'", (wait_id, name)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE lobby SET status = ? WHERE id = ?",
                       ("admitted" if admit else "denied", wait_id))
            if admit:
                db.execute("INSERT INTO admissions (room, principal, until) VALUES (?, ?, ?) "
                           "ON CONFLICT (room, principal) DO UPDATE SET until = excluded.until",
                           (name, row[0], now + REMOVAL_SECONDS))
        return self.waiting_request(wait_id)


def import_rooms(store: RoomStore, path: str) -> int:
    """Copy the rooms (and moderators) an earlier release kept in SQLite into this store,
    keeping what the store already has; then rename the file to PATH.imported. How many
    rooms were new."""
    import os

    old = RoomStore(SQLite(path))  # upgrades the old file's schema in place first
    with old._connect() as src:
        room_rows = src.execute("SELECT name, created, owner, title, access FROM rooms").fetchall()
        moderator_rows = src.execute("SELECT room, principal FROM moderators").fetchall()
    count = 0
    with store._connect() as db:
        for row in room_rows:
            cur = db.execute("INSERT INTO rooms (name, created, owner, title, access) "
                             "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", tuple(row))
            count += cur.rowcount
        for row in moderator_rows:
            db.execute("INSERT INTO moderators (room, principal) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", tuple(row))
    os.replace(path, path + ".imported")
    return count


class InThreads:
    """A RoomStore whose methods are coroutines run in worker threads: a slow or unreachable
    database holds the requests that need it, never the event loop (and with it every
    other request, the health check included)."""

    def __init__(self, store: RoomStore):
        self.store = store

    def __getattr__(self, name: str):
        method = getattr(self.store, name)

        async def call(*args, **kwargs):
            return await anyio.to_thread.run_sync(functools.partial(method, *args, **kwargs))

        return call

