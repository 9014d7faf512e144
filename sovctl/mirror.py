"""The artifact catalogue and the artifact mirror: fetch, build, verify, serve.

The catalogue (``roles/artifact/vars/catalogue.yml``) lists every third-party
file sovctl installs that is not a Debian package: name, version, sha256 and an
ordered list of sources (``url``, ``maven``, ``go-module``). The artifact role
reads the same file on the hosts' side.

``sync(DIR)`` puts every artifact at ``DIR/<name>/<version>/<filename>`` (the
layout the role downloads from when ``sov_artifact_mirror`` is set), verifies
each sha256, and writes ``manifest.json`` and a CycloneDX 1.5 SBOM
(``sbom.cdx.json``). Files are kept in a local cache keyed by sha256, so a
second sync neither downloads nor builds again. Go modules are built with the
toolchain the catalogue pins (downloaded from the Go module proxy and checked
against the catalogue's sha256, never the machine's own Go) with
``CGO_ENABLED=0 -trimpath -buildvcs=false``, which makes the result reproducible.

``serve(DIR)`` serves a mirror over HTTP for test hosts and small sites.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from sovctl import __version__
from sovctl.errors import InputError, SovctlError, UnavailableError
from sovctl.paths import project_root

CATALOGUE_RELPATH = Path("roles/artifact/vars/catalogue.yml")
CATALOGUE_VAR = "__artifact_catalogue"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
GO_PROXY = "https://proxy.golang.org"
MANIFEST_NAME = "manifest.json"
SBOM_NAME = "sbom.cdx.json"
SOURCE_KINDS = ("url", "maven", "go-module")
FORMATS = ("zip", "tar.gz", "binary")
# The build flags of every go-module artifact: together with the pinned toolchain
# they make the binary reproducible (no paths, no VCS stamp, no C toolchain).
GO_BUILD_FLAGS = ("-trimpath", "-buildvcs=false")
GO_BUILD_ENV = {"CGO_ENABLED": "0"}
# Passed from the caller's environment to `go`: proxies, private modules, CAs.
GO_ENV_PASSTHROUGH = (
    "GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GONOPROXY", "GOINSECURE",
    "GOAUTH", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR",
)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
CHUNK = 1 << 20
USER_AGENT = f"sovctl/{__version__} (artifact mirror)"

Log = Callable[[str], None]


class ArtifactError(SovctlError):
    """An artifact could not be obtained with the expected sha256 (exit 69)."""

    exit_code = UnavailableError.exit_code


# --------------------------------------------------------------------------
# The catalogue


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


# --------------------------------------------------------------------------
# Sources


def maven_url(coordinates: str, repository: str = MAVEN_CENTRAL) -> str:
    """group:artifact:version[:extension[:classifier]] -> its URL in a Maven repository."""
    parts = coordinates.split(":")
    if len(parts) not in (3, 4, 5) or not all(parts):
        raise InputError(f"not Maven coordinates: {coordinates!r}",
                         hint="group:artifact:version[:extension[:classifier]], "
                              "e.g. org.keycloak:keycloak-quarkus-dist:26.7.3:zip")
    group, artifact, version = parts[:3]
    ext = parts[3] if len(parts) > 3 else "jar"
    classifier = f"-{parts[4]}" if len(parts) > 4 else ""
    return (f"{repository.rstrip('/')}/{group.replace('.', '/')}/{artifact}/{version}/"
            f"{artifact}-{version}{classifier}.{ext}")


def source_label(src: dict) -> str:
    if src["kind"] == "url":
        return f"url {src['url']}"
    if src["kind"] == "maven":
        return f"maven {src['coordinates']}"
    return f"go-module {go_target(src)} ({src['toolchain']})"


def go_target(src: dict) -> str:
    package = src.get("package", "").strip("/")
    return f"{src['module']}{'/' + package if package else ''}@{src['version']}"


def purl(artifact: Artifact) -> str:
    """Package URL of the artifact, from its first maven or go-module source."""
    for src in artifact.sources:
        if src["kind"] == "maven":
            group, name, version, *rest = src["coordinates"].split(":")
            qualifiers = []
            if rest:
                qualifiers.append(f"type={rest[0]}")
            if len(rest) > 1:
                qualifiers.append(f"classifier={rest[1]}")
            query = f"?{'&'.join(qualifiers)}" if qualifiers else ""
            return f"pkg:maven/{group}/{name}@{version}{query}"
        if src["kind"] == "go-module":
            package = src.get("package", "").strip("/")
            return (f"pkg:golang/{src['module']}@{src['version']}"
                    + (f"#{package}" if package else ""))
    url = urllib.parse.quote(artifact.sources[0]["url"], safe="")
    return f"pkg:generic/{artifact.name}@{artifact.version}?download_url={url}"


def source_urls(artifact: Artifact, mirror: str = "",
                maven_repository: str = MAVEN_CENTRAL) -> list[str]:
    """The URLs a host downloads from, in order (the artifact role computes the same list)."""
    if mirror:
        return [f"{mirror.rstrip('/')}/{artifact.path}"]
    urls = []
    for src in artifact.sources:
        if src["kind"] == "url":
            urls.append(src["url"])
        elif src["kind"] == "maven":
            urls.append(maven_url(src["coordinates"], maven_repository))
    return urls


# --------------------------------------------------------------------------
# The local cache: files by sha256, each with a note of where it came from


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


def download(url: str, dest: Path, timeout: float = 60) -> str:
    """Stream URL into dest; returns the sha256 of what was received."""
    # Catalogue URLs are http(s) (checked by load_catalogue); file:// only from GOPROXY.
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=timeout) as resp, open(dest, "wb") as out:  # noqa: S310
        while chunk := resp.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------
# Go: the pinned toolchain and reproducible module builds


def host_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine)
    return f"{platform.system().lower()}-{arch}"


def go_proxy() -> str:
    """The first http(s) entry of GOPROXY (default: the public Go module proxy)."""
    for entry in re.split(r"[,|]", os.environ.get("GOPROXY", "")):
        if entry.startswith(("https://", "http://", "file://")):
            return entry.rstrip("/")
    if os.environ.get("GOPROXY", "").strip() == "off":
        raise UnavailableError("GOPROXY=off: the Go toolchain and modules cannot be fetched",
                               hint="set GOPROXY to a Go module proxy")
    return GO_PROXY


def _escape_module(path: str) -> str:
    """The Go module proxy's case encoding (upper-case letters become !lower)."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), path)


def _unzip_toolchain(archive: Path, dest: Path, prefix: str) -> None:
    base = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(prefix):
                continue
            rel = info.filename[len(prefix):]
            target = (base / rel).resolve()
            if not rel or not target.is_relative_to(base):
                continue  # nothing outside the toolchain's directory
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(mode or 0o644)


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


def go_toolchain(catalogue: Catalogue, version: str, cache: Cache, log: Log = print) -> Path:
    """The `go` binary of the pinned toolchain, fetched from the module proxy once and verified."""
    with _locked(cache.dir / "go" / ".toolchains.lock"):
        return _go_toolchain(catalogue, version, cache, log)


def _go_toolchain(catalogue: Catalogue, version: str, cache: Cache, log: Log) -> Path:
    plat = host_platform()
    digest = catalogue.go_toolchains.get(version, {}).get(plat)
    if not digest:
        raise UnavailableError(
            f"the catalogue pins no sha256 for Go toolchain {version} on {plat}",
            hint=f"add go_toolchains.{version}.{plat} to {catalogue.path}")
    root = cache.dir / "go" / "toolchains" / f"{version}.{plat}"
    marker = root / ".sovctl-sha256"
    if marker.is_file() and marker.read_text().strip() == digest and (root / "bin/go").is_file():
        return root / "bin" / "go"
    blob = cache.lookup(digest)
    module = f"v0.0.1-{version}.{plat}"
    if blob is None:
        url = f"{go_proxy()}/golang.org/toolchain/@v/{module}.zip"
        log(f"fetching the Go toolchain {version} ({plat}) from {url}")
        tmp = Path(tempfile.mkstemp(dir=cache.tmpdir(), suffix=".zip")[1])
        try:
            got = download(url, tmp)
        except (urllib.error.URLError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise ArtifactError(f"cannot fetch the Go toolchain {version}: "
                                f"{_describe_error(exc)}", hint="check GOPROXY") from exc
        if got != digest:
            tmp.unlink(missing_ok=True)
            raise ArtifactError(f"Go toolchain {version} ({plat}): sha256 mismatch from {url}: "
                                f"expected {digest}, got {got}",
                                hint="the proxy served another file: nothing was used")
        blob = cache.put(tmp, digest, {"source": f"url {url}", "what": f"go {version}"})
    staging = Path(tempfile.mkdtemp(dir=cache.tmpdir(), prefix="go-"))
    _unzip_toolchain(blob, staging, f"golang.org/toolchain@{module}/")
    (staging / ".sovctl-sha256").write_text(digest + "\n")
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, root)
    return root / "bin" / "go"


def _go_env(cache: Cache, gopath: Path, target_platform: str) -> dict[str, str]:
    goos, _, goarch = target_platform.partition("-")
    env = {k: os.environ[k] for k in GO_ENV_PASSTHROUGH if k in os.environ}
    env.update({
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(Path.home()),
        "GOENV": "off",              # ignore the user's `go env -w` settings
        "GOTOOLCHAIN": "local",      # exactly the pinned toolchain, never a switch
        "GOPATH": str(gopath),
        "GOMODCACHE": str(cache.dir / "go" / "mod"),
        "GOCACHE": str(cache.dir / "go" / "build"),
        "GOFLAGS": "-modcacherw",    # a cache that `rm -r` can clean
        "GOOS": goos,
        "GOARCH": goarch,
        **GO_BUILD_ENV,
    })
    if goarch == "amd64":
        env["GOAMD64"] = "v1"
    elif goarch == "arm64":
        env["GOARM64"] = "v8.0"
    return env


def _go_deps(go: Path, binary: Path, env: dict[str, str]) -> list[dict]:
    """The modules linked into a Go binary (`go version -m`), for the SBOM."""
    proc = subprocess.run([str(go), "version", "-m", str(binary)], env=env,
                          capture_output=True, text=True, check=False)
    deps = []
    for line in proc.stdout.splitlines():
        cols = line.strip().split("\t")
        if cols[0] == "dep" and len(cols) >= 3:
            deps.append({"path": cols[1], "version": cols[2],
                         "sum": cols[3] if len(cols) > 3 else ""})
        elif cols[0] == "=>" and deps and len(cols) >= 3:
            deps[-1]["replaced_by"] = f"{cols[1]}@{cols[2]}"
    return deps


def _go_origin(cache: Cache, src: dict) -> dict:
    info = (cache.dir / "go" / "mod" / "cache" / "download" / _escape_module(src["module"])
            / "@v" / f"{src['version']}.info")
    try:
        return json.loads(info.read_text()).get("Origin") or {}
    except (OSError, ValueError):
        return {}


def build_go(artifact: Artifact, src: dict, catalogue: Catalogue, cache: Cache,
             log: Log = print) -> tuple[Path, dict]:
    """Build a go-module source; returns the binary (in the cache's tmp dir) and its provenance."""
    go = go_toolchain(catalogue, src["toolchain"], cache, log)
    target_platform = artifact.platform or host_platform()
    work = Path(tempfile.mkdtemp(dir=cache.tmpdir(), prefix="gobuild-"))
    env = _go_env(cache, work / "gopath", target_platform)
    cmd = [str(go), "install", *GO_BUILD_FLAGS, go_target(src)]
    log(f"building {artifact.name} {artifact.version}: {' '.join(cmd[1:])} with "
        f"{src['toolchain']}, {' '.join(f'{k}={v}' for k, v in GO_BUILD_ENV.items())}, "
        f"{target_platform} (a few minutes the first time)")
    try:
        proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise ArtifactError(f"building {go_target(src)} failed:\n{tail}",
                                hint="check that the module version exists on the Go proxy")
        built = [p for p in (work / "gopath" / "bin").rglob("*") if p.is_file()]
        if len(built) != 1:
            raise ArtifactError(f"building {go_target(src)} produced {len(built)} files, not one")
        result = Path(tempfile.mkstemp(dir=cache.tmpdir())[1])
        os.replace(built[0], result)
        provenance = {
            "source": source_label(src),
            "go": src["toolchain"],
            "platform": target_platform,
            "flags": [*(f"{k}={v}" for k, v in GO_BUILD_ENV.items()), *GO_BUILD_FLAGS],
            "origin": _go_origin(cache, src),
            "deps": _go_deps(go, result, env),
        }
        return result, provenance
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------
# Sync


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


def build_manifest(entries: Sequence[SyncEntry], catalogue: Catalogue) -> dict:
    return {
        "format": 1,
        "generator": f"sovctl {__version__}",
        "layout": "<name>/<version>/<filename>",
        "catalogue_sha256": sha256_file(catalogue.path),
        "artifacts": [{
            "name": e.artifact.name,
            "version": e.artifact.version,
            "path": e.artifact.path,
            "sha256": e.artifact.sha256,
            "format": e.artifact.format,
            "purl": purl(e.artifact),
            "sources": [source_label(s) for s in e.artifact.sources],
            "obtained_from": e.provenance.get("source", ""),
        } for e in entries],
    }


def build_sbom(entries: Sequence[SyncEntry], timestamp: datetime | None = None) -> dict:
    """A CycloneDX 1.5 SBOM of the mirror: one component per artifact, Go modules nested."""
    components = []
    for e in entries:
        a = e.artifact
        ref = purl(a)
        component: dict[str, Any] = {
            "type": "application",
            "bom-ref": ref,
            "name": a.name,
            "version": a.version,
            "purl": ref,
            "hashes": [{"alg": "SHA-256", "content": a.sha256}],
        }
        if a.description:
            component["description"] = a.description
        if a.license:
            component["licenses"] = [{"license": {"id": a.license}}]
        refs = []
        for src in a.sources:
            if src["kind"] == "url":
                refs.append({"type": "distribution", "url": src["url"]})
            elif src["kind"] == "maven":
                refs.append({"type": "distribution", "url": maven_url(src["coordinates"])})
        origin = e.provenance.get("origin") or {}
        if origin.get("URL"):
            vcs = {"type": "vcs", "url": origin["URL"]}
            if origin.get("Hash"):
                vcs["comment"] = f"commit {origin['Hash']}"
            refs.append(vcs)
        if refs:
            component["externalReferences"] = refs
        props = [{"name": "sovctl:mirror-path", "value": a.path},
                 {"name": "sovctl:format", "value": a.format}]
        props += [{"name": "sovctl:source", "value": source_label(s)} for s in a.sources]
        if e.provenance.get("source"):
            props.append({"name": "sovctl:obtained-from", "value": e.provenance["source"]})
        if a.platform:
            props.append({"name": "sovctl:platform", "value": a.platform})
        if e.provenance.get("go"):
            props.append({"name": "sovctl:go-toolchain", "value": e.provenance["go"]})
            props.append({"name": "sovctl:build-flags",
                          "value": " ".join(e.provenance.get("flags", []))})
        component["properties"] = props
        deps = e.provenance.get("deps") or []
        if e.provenance.get("go"):
            go_version = e.provenance["go"]
            component["components"] = [{
                "type": "library", "bom-ref": f"{ref}|stdlib", "name": "stdlib",
                "version": go_version, "purl": f"pkg:golang/stdlib@{go_version}"}]
        for dep in deps:
            sub = {"type": "library",
                   "bom-ref": f"{ref}|pkg:golang/{dep['path']}@{dep['version']}",
                   "name": dep["path"], "version": dep["version"],
                   "purl": f"pkg:golang/{dep['path']}@{dep['version']}"}
            if dep.get("sum"):
                sub["properties"] = [{"name": "sovctl:go-sum", "value": dep["sum"]}]
            component.setdefault("components", []).append(sub)
        components.append(component)
    when = timestamp or datetime.now(UTC)
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "sovctl",
                                      "version": __version__}]},
            "component": {"type": "application", "bom-ref": "sovctl-artifact-mirror",
                          "name": "sovctl artifact mirror", "version": __version__},
        },
        "components": components,
        "dependencies": [{"ref": "sovctl-artifact-mirror",
                          "dependsOn": [c["bom-ref"] for c in components]}],
    }


# --------------------------------------------------------------------------
# Serve


class _MirrorHandler(SimpleHTTPRequestHandler):
    server_version = f"sovctl-mirror/{__version__}"
    log: Log | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if self.log:
            self.log(f"{self.address_string()} {format % args}")


def make_server(directory: Path, bind: str = "127.0.0.1", port: int = 8080,
                log: Log | None = None) -> ThreadingHTTPServer:
    """An HTTP server of DIR (not started); port 0 picks a free port."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("no such directory", file=str(directory),
                         hint="fill it first with `sovctl mirror sync DIR`")
    handler = type("MirrorHandler", (_MirrorHandler,), {"log": staticmethod(log) if log else None})
    try:
        server = ThreadingHTTPServer((bind, port), partial(handler, directory=str(directory)))
    except OSError as exc:
        raise InputError(f"cannot listen on {bind}:{port}: {exc.strerror}", field="--port",
                         hint="choose another --port (0 picks a free one) or --bind") from exc
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve(directory: Path, bind: str = "127.0.0.1", port: int = 8080, log: Log = print,
          access_log: Log | None = None) -> None:
    """Serve DIR until interrupted."""
    server = make_server(directory, bind, port, access_log)
    if not (Path(directory) / MANIFEST_NAME).is_file():
        log(f"warning: {directory} has no {MANIFEST_NAME}: is it a mirror filled by "
            "`sovctl mirror sync`?")
    log(f"Serving {directory} at {server_url(server)} (Ctrl-C to stop)")
    log(f"Hosts use it with: sov_artifact_mirror: {server_url(server).rstrip('/')}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("Stopped.")
    finally:
        server.server_close()
