"""Sync: fill a mirror directory with the catalogue's artifacts.

``sync(DIR)`` puts every artifact at ``DIR/<name>/<version>/<filename>`` (the
layout the role downloads from when ``sov_artifact_mirror`` is set), verifies
each sha256, and writes ``manifest.json`` and a CycloneDX 1.5 SBOM
(``sbom.cdx.json``). Files are kept in the local cache keyed by sha256, so a
second sync neither downloads nor builds again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sovctl.errors import InputError, SovctlError
from sovctl.mirror.cache import Cache, sha256_file
from sovctl.mirror.catalogue import Artifact, Catalogue, load_catalogue
from sovctl.mirror.gobuild import build_go
from sovctl.mirror.sbom import MANIFEST_NAME, SBOM_NAME, build_manifest, build_sbom
from sovctl.mirror.sources import (
    MAVEN_CENTRAL,
    ArtifactError,
    Log,
    _describe_error,
    download,
    maven_url,
    source_label,
)


@dataclass
class SyncEntry:
    artifact: Artifact
    status: str                 # present | cached | downloaded | built
    provenance: dict = field(default_factory=dict)


@dataclass
class SyncResult:
    directory: Path
    entries: list[SyncEntry]
    in_mirror: list[SyncEntry]
    manifest: Path
    sbom: Path


def obtain(artifact: Artifact, catalogue: Catalogue, cache: Cache,
           maven_repository: str = MAVEN_CENTRAL, log: Log = print) -> tuple[Path, str]:
    """The artifact's file in the cache: from the cache, else from its sources in order."""
    blob = cache.lookup(artifact.sha256)
    if blob is not None:
        return blob, "cached"
    attempts = []
    for src in artifact.sources:
        label = source_label(src)
        if src["kind"] == "go-module":
            try:
                tmp, provenance = build_go(artifact, src, catalogue, cache, log)
            except SovctlError as exc:
                attempts.append(f"{label}: {exc.message}")
                continue
            status = "built"
        else:
            url = (src["url"] if src["kind"] == "url"
                   else maven_url(src["coordinates"], maven_repository))
            log(f"downloading {artifact.name} {artifact.version} from {url}")
            tmp = Path(tempfile.mkstemp(dir=cache.tmpdir())[1])
            try:
                download(url, tmp)
            except (urllib.error.URLError, OSError) as exc:
                tmp.unlink(missing_ok=True)
                attempts.append(f"{label}: {_describe_error(exc)}")
                continue
            provenance = {"source": label, "url": url}
            status = "downloaded"
        got = sha256_file(tmp)
        if got != artifact.sha256:
            tmp.unlink(missing_ok=True)
            attempts.append(f"{label}: sha256 mismatch: expected {artifact.sha256}, got {got}")
            continue
        provenance["obtained"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cache.put(tmp, artifact.sha256, provenance), status
    raise ArtifactError(
        f"{artifact.name} {artifact.version}: no source gave the file with sha256 "
        f"{artifact.sha256}:\n  " + "\n  ".join(attempts),
        hint="nothing was written for this artifact; check the sources (a sha256 mismatch "
             "means the source serves another file than the one catalogued)")


def _place(blob: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(blob, tmp)
    os.replace(tmp, dest)


def sync(directory: Path, only: Sequence[str] = (), catalogue: Catalogue | None = None,
         cache: Cache | None = None, maven_repository: str | None = None,
         log: Log = print) -> SyncResult:
    """Fill DIR with the catalogue's artifacts; write manifest.json and sbom.cdx.json.

    Every artifact that could be obtained is placed even if another fails; the
    manifest and SBOM list what DIR holds with a verified sha256. Raises
    ArtifactError at the end if any selected artifact could not be obtained.
    """
    catalogue = catalogue or load_catalogue()
    cache = cache or Cache()
    maven_repository = maven_repository or os.environ.get("SOVCTL_MAVEN_REPOSITORY") \
        or MAVEN_CENTRAL
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError("not a directory", file=str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    selected = catalogue.select(only)
    entries: list[SyncEntry] = []
    failures: list[ArtifactError] = []
    for artifact in selected:
        dest = directory / artifact.path
        if dest.is_file() and sha256_file(dest) == artifact.sha256:
            entries.append(SyncEntry(artifact, "present", cache.provenance(artifact.sha256)))
            continue
        try:
            blob, status = obtain(artifact, catalogue, cache, maven_repository, log)
        except ArtifactError as exc:
            failures.append(exc)
            continue
        _place(blob, dest)
        entries.append(SyncEntry(artifact, status, cache.provenance(artifact.sha256)))
    # The manifest describes the whole mirror, not only this run's selection.
    in_mirror: list[SyncEntry] = []
    by_ref = {e.artifact.ref: e for e in entries}
    for artifact in catalogue.artifacts:
        if artifact.ref in by_ref:
            in_mirror.append(by_ref[artifact.ref])
            continue
        dest = directory / artifact.path
        if dest.is_file():
            if sha256_file(dest) == artifact.sha256:
                in_mirror.append(SyncEntry(artifact, "present",
                                           cache.provenance(artifact.sha256)))
            else:
                log(f"warning: {dest} does not have the catalogued sha256: left out of the "
                    "manifest (sync it again with --only " + artifact.ref + ")")
    for entry in in_mirror:
        checksum = directory / f"{entry.artifact.path}.sha256"
        text = f"{entry.artifact.sha256}  {entry.artifact.filename}\n"
        if not checksum.is_file() or checksum.read_text() != text:
            checksum.write_text(text)
    manifest = directory / MANIFEST_NAME
    _write_json(manifest, build_manifest(in_mirror, catalogue))
    sbom = directory / SBOM_NAME
    _write_json(sbom, build_sbom(in_mirror))
    if failures:
        raise ArtifactError("\n".join(f.message for f in failures), hint=failures[0].hint)
    return SyncResult(directory, entries, in_mirror, manifest, sbom)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
