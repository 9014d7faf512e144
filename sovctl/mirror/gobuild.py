"""Go: the pinned toolchain and reproducible module builds.

Go modules are built with the toolchain the catalogue pins (downloaded from the
Go module proxy and checked against the catalogue's sha256, never the machine's
own Go) with ``CGO_ENABLED=0 -trimpath -buildvcs=false``, which makes the result
reproducible.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import urllib.error
import zipfile
from pathlib import Path

from sovctl.errors import UnavailableError
from sovctl.mirror.cache import Cache, _locked
from sovctl.mirror.catalogue import Artifact, Catalogue
from sovctl.mirror.sources import (
    CHUNK,
    ArtifactError,
    Log,
    _describe_error,
    download,
    go_target,
    source_label,
)

GO_PROXY = "https://proxy.golang.org"
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
