"""The local cache: files by sha256, each with a note of where it came from."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path

from sovctl.mirror.sources import CHUNK


def default_cache_dir() -> Path:
    env = os.environ.get("SOVCTL_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sovctl"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Cache:
    """``<dir>/artifacts/sha256/<hex>`` and ``<hex>.json`` (provenance)."""

    def __init__(self, directory: Path | None = None):
        self.dir = Path(directory) if directory else default_cache_dir()
        self.blobs = self.dir / "artifacts" / "sha256"

    def tmpdir(self) -> Path:
        path = self.dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def lookup(self, digest: str) -> Path | None:
        """The cached file if it is there and still has that sha256."""
        blob = self.blobs / digest
        if not blob.is_file():
            return None
        if sha256_file(blob) != digest:
            blob.unlink()
            return None
        return blob

    def provenance(self, digest: str) -> dict:
        try:
            return json.loads((self.blobs / f"{digest}.json").read_text())
        except (OSError, ValueError):
            return {}

    def put(self, path: Path, digest: str, provenance: dict) -> Path:
        self.blobs.mkdir(parents=True, exist_ok=True)
        note = self.blobs / f".{digest}.json.tmp"
        note.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        os.replace(note, self.blobs / f"{digest}.json")
        blob = self.blobs / digest
        os.replace(path, blob)
        return blob


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on a file, for work two syncs must not do at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
