"""Where an artifact comes from: source labels, Maven URLs, package URLs, downloads.

Also the names the other modules of the mirror share: ``ArtifactError`` (an
artifact could not be obtained), ``Log`` (the type of the log callbacks) and
``CHUNK`` (the read size for hashing and copying).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sovctl import __version__
from sovctl.errors import InputError, SovctlError, UnavailableError

if TYPE_CHECKING:  # the catalogue imports this module: Artifact is only a type here
    from sovctl.mirror.catalogue import Artifact

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
CHUNK = 1 << 20
USER_AGENT = f"sovctl/{__version__} (artifact mirror)"

Log = Callable[[str], None]


class ArtifactError(SovctlError):
    """An artifact could not be obtained with the expected sha256 (exit 69)."""

    exit_code = UnavailableError.exit_code


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
