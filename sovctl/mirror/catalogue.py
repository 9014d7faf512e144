"""The artifact catalogue: ``roles/artifact/vars/catalogue.yml``, read and checked.

The catalogue lists every third-party file sovctl installs that is not a Debian
package: name, version, sha256 and an ordered list of sources (``url``, ``maven``,
``go-module``). The artifact role reads the same file on the hosts' side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sovctl.errors import InputError
from sovctl.mirror.sources import maven_url
from sovctl.paths import project_root

CATALOGUE_RELPATH = Path("roles/artifact/vars/catalogue.yml")
CATALOGUE_VAR = "__artifact_catalogue"
SOURCE_KINDS = ("url", "maven", "go-module")
FORMATS = ("zip", "tar.gz", "binary")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str
    filename: str
    sha256: str
    format: str
    sources: tuple[dict, ...]
    strip: str = ""
    binary: str = ""
    platform: str = ""
    license: str = ""
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def path(self) -> str:
        """Where the file lives in a mirror: <name>/<version>/<filename>."""
        return f"{self.name}/{self.version}/{self.filename}"


@dataclass
class Catalogue:
    path: Path
    artifacts: list[Artifact]
    go_toolchains: dict[str, dict[str, str]]

    def names(self) -> list[str]:
        return sorted({a.name for a in self.artifacts})

    def versions(self, name: str) -> list[str]:
        return sorted((a.version for a in self.artifacts if a.name == name), key=version_key)

    def get(self, name: str, version: str | None = None) -> Artifact:
        """One artifact; without a version, the newest one of that name."""
        versions = self.versions(name)
        if not versions:
            raise InputError(f"no artifact named {name!r} in the catalogue", file=str(self.path),
                             hint="known artifacts: " + ", ".join(self.names()))
        version = version or versions[-1]
        for a in self.artifacts:
            if a.name == name and a.version == version:
                return a
        raise InputError(f"{name} has no version {version!r} in the catalogue",
                         file=str(self.path), hint="catalogued versions: " + ", ".join(versions))

    def select(self, only: Iterable[str] = ()) -> list[Artifact]:
        """Every artifact, or those named by NAME (all its versions) or NAME@VERSION."""
        only = list(only)
        if not only:
            return list(self.artifacts)
        chosen: list[Artifact] = []
        for spec in only:
            name, _, version = spec.partition("@")
            picked = ([self.get(name, version)] if version
                      else [a for a in self.artifacts if a.name == name])
            if not picked:
                self.get(name)  # raises with the list of known names
            chosen += [a for a in picked if a not in chosen]
        return chosen


def version_key(version: str) -> tuple:
    """Sort key for versions like 26.7.3, 1.13.5, v1.2.0-rc1 (numbers compare as numbers)."""
    parts = re.split(r"[.+-]", version.lstrip("v"))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def catalogue_path() -> Path:
    return project_root() / CATALOGUE_RELPATH


def _require(entry: dict, key: str, where: str, file: str, pattern: re.Pattern | None = None,
             hint: str | None = None) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
        raise InputError(f"missing or invalid {key!r} (got {value!r})", file=file,
                         field=f"{where}.{key}", hint=hint)
    return value


def _check_source(src: Any, where: str, file: str) -> dict:
    if not isinstance(src, dict) or src.get("kind") not in SOURCE_KINDS:
        raise InputError(f"a source needs a kind, one of {', '.join(SOURCE_KINDS)}",
                         file=file, field=f"{where}.kind")
    kind = src["kind"]
    if kind == "url":
        _require(src, "url", where, file, re.compile(r"^https?://"), "an http(s) URL")
    elif kind == "maven":
        coords = _require(src, "coordinates", where, file)
        maven_url(coords)  # raises on malformed coordinates
    else:
        _require(src, "module", where, file)
        _require(src, "version", where, file, re.compile(r"^v\d"), "a module version, e.g. v1.13.5")
        _require(src, "toolchain", where, file, re.compile(r"^go\d+\.\d+(\.\d+)?$"),
                 "a Go toolchain version, e.g. go1.26.8")
    return dict(src)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and check the catalogue; a problem names the file and the field."""
    path = Path(path) if path else catalogue_path()
    file = str(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read the artifact catalogue: {exc.strerror}", file=file) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=file) from exc
    # The role loads the file with include_vars: one variable holds the catalogue.
    data = doc.get(CATALOGUE_VAR) if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise InputError(f"the catalogue is the mapping {CATALOGUE_VAR}", file=file,
                         field=CATALOGUE_VAR)
    if not isinstance(data.get("artifacts"), list):
        raise InputError("the catalogue needs an `artifacts` list", file=file,
                         field=f"{CATALOGUE_VAR}.artifacts")
    if data.get("format") != 1:
        raise InputError("unknown catalogue format (sovctl reads format 1)", file=file,
                         field=f"{CATALOGUE_VAR}.format")
    toolchains = data.get("go_toolchains") or {}
    for version, sums in toolchains.items():
        for plat, digest in (sums or {}).items():
            if not (isinstance(digest, str) and SHA256.match(digest)):
                raise InputError("not a sha256 (64 lowercase hex digits)", file=file,
                                 field=f"go_toolchains.{version}.{plat}")
    artifacts: list[Artifact] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(data["artifacts"]):
        where = f"artifacts[{i}]"
        if not isinstance(entry, dict):
            raise InputError("an artifact is a mapping", file=file, field=where)
        name = _require(entry, "name", where, file, NAME, "lowercase letters, digits, . _ -")
        version = _require(entry, "version", where, file, re.compile(r"^[0-9A-Za-z][\w.+-]*$"))
        where = f"artifacts[{i}] ({name} {version})"
        if (name, version) in seen:
            raise InputError("listed twice", file=file, field=where)
        seen.add((name, version))
        filename = _require(entry, "filename", where, file, re.compile(r"^[\w.+-]+$"),
                            "a plain file name, no directories")
        digest = _require(entry, "sha256", where, file, SHA256,
                          "64 lowercase hex digits, recorded by fetching or building the file")
        fmt = entry.get("format")
        if fmt not in FORMATS:
            raise InputError(f"format must be one of {', '.join(FORMATS)}", file=file,
                             field=f"{where}.format")
        if fmt == "binary":
            _require(entry, "binary", where, file, re.compile(r"^[\w.+-]+(/[\w.+-]+)*$"),
                     "a relative path under <root>/<version>, e.g. bin/livekit-server")
        sources = entry.get("sources")
        if not isinstance(sources, list) or not sources:
            raise InputError("at least one source is needed", file=file, field=f"{where}.sources")
        checked = tuple(_check_source(s, f"{where}.sources[{j}]", file)
                        for j, s in enumerate(sources))
        for src in checked:
            if src["kind"] == "go-module" and src["toolchain"] not in toolchains:
                raise InputError(f"toolchain {src['toolchain']} has no pinned sha256",
                                 file=file, field="go_toolchains",
                                 hint=f"add go_toolchains.{src['toolchain']}.<os>-<arch>")
        artifacts.append(Artifact(
            name=name, version=version, filename=filename, sha256=digest, format=fmt,
            sources=checked, strip=str(entry.get("strip") or ""),
            binary=str(entry.get("binary") or ""), platform=str(entry.get("platform") or ""),
            license=str(entry.get("license") or ""),
            description=str(entry.get("description") or "")))
    return Catalogue(path=path, artifacts=artifacts, go_toolchains=toolchains)
