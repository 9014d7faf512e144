"""The app's database: PostgreSQL in deployments (shared by every meet node of a site),
SQLite for a single process (the unit tests, a laptop).

The SQL in rooms.py is written once, with `?` placeholders and the upsert syntax both
engines share (`ON CONFLICT ... DO`); this module holds what differs: connecting,
placeholders, and reading a table's columns for in-place upgrades.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager


class Unavailable(RuntimeError):
    """The database cannot be reached (down, restarting, or its database dropped)."""


class Database:
    """Transactions: `with db.transaction() as tx: tx.execute(sql, params)`; committed when
    the block ends without an exception, rolled back otherwise."""

    engine = ""

    def transaction(self):
        raise NotImplementedError

    def columns(self, tx, table: str) -> set[str]:
        raise NotImplementedError

    # Called with a transaction on every new connection (PostgreSQL): RoomStore ensures
    # its schema there, so that a database built afresh (a replaced database server, a
    # restore) gets its tables before the first request uses them.
    on_connect = None

    def close(self) -> None:
        """Release connections (the pool's)."""


class SQLite(Database):
    engine = "sqlite"

    def __init__(self, path: str):
        self.path = path

    @contextmanager
    def transaction(self):
        conn = sqlite3.connect(self.path, timeout=5)
        with closing(conn):
            conn.execute("PRAGMA foreign_keys = ON")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def columns(self, tx, table: str) -> set[str]:
        return {row[1] for row in tx.execute(f"PRAGMA table_info({table})")}


class _PgTx:
    """A psycopg connection that takes `?` placeholders like sqlite3."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql: str, params: tuple = ()):
        return self.conn.execute(sql.replace("?", "%s"), params)


class PostgreSQL(Database):
    engine = "postgresql"

    def __init__(self, url: str, password: str, *, min_size: int = 1, max_size: int = 8):
        from psycopg_pool import ConnectionPool

        # A connection the server closed (a restart, a restore dropping the database) is
        # noticed before use and replaced (psycopg_pool 3.2+), not handed to a request.
        check = getattr(ConnectionPool, "check_connection", None)
        extra = {"check": check} if check else {}
        self.pool = ConnectionPool(url, kwargs={"password": password or None},
                                   min_size=min_size, max_size=max_size, timeout=10,
                                   open=False, name="sovmeet", configure=self._configure,
                                   **extra)

    def open(self) -> None:
        """Open the pool once on_connect is set (its first connections run it)."""
        self.pool.open()

    def _configure(self, conn) -> None:
        if self.on_connect is not None:
            self.on_connect(_PgTx(conn))
        conn.commit()

    @contextmanager
    def transaction(self):
        # The pool's connection block commits on success and rolls back on an exception.
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as conn:
                yield _PgTx(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise Unavailable(type(exc).__name__) from exc

    def columns(self, tx, table: str) -> set[str]:
        rows = tx.execute("SELECT column_name FROM information_schema.columns "
                          "WHERE table_schema = current_schema() AND table_name = ?", (table,))
        return {row[0] for row in rows.fetchall()}

    def lock_schema(self, tx) -> None:
        """Several meet nodes starting at once: one of them creates or upgrades the schema."""
        tx.execute("SELECT pg_advisory_xact_lock(?)", (0x736F766D656574,))

    def close(self) -> None:
        self.pool.close()


def open_database(url: str, password: str = "") -> Database:
    """A postgresql:// URL (libpq's), or the path of an SQLite file."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgreSQL(url, password)
    return SQLite(url)
