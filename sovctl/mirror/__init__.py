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

The modules, each one concern (this package re-exports their public names, so
callers use ``from sovctl import mirror`` and ``mirror.sync(...)``):

- ``catalogue``: ``Artifact``, ``Catalogue``, ``load_catalogue``, ``catalogue_path``,
  ``version_key`` and the catalogue's constants (``CATALOGUE_VAR``, ``FORMATS``, ...).
- ``sources``: ``maven_url``, ``source_label``, ``go_target``, ``purl``,
  ``source_urls``, ``download``; ``ArtifactError``, ``Log`` and ``CHUNK``, which
  the other modules share; ``MAVEN_CENTRAL``.
- ``cache``: ``Cache``, ``default_cache_dir``, ``sha256_file`` and a file lock.
- ``gobuild``: ``host_platform``, ``go_proxy``, ``go_toolchain``, ``build_go`` and the
  Go build flags.
- ``syncing``: ``sync``, ``obtain``, ``SyncEntry``, ``SyncResult``.
- ``sbom``: ``build_manifest``, ``build_sbom``, ``MANIFEST_NAME``, ``SBOM_NAME``.
- ``server``: ``make_server``, ``server_url``, ``serve``.

The modules that hold ``sync`` and ``serve`` are not named after them: a submodule
named like a function the package re-exports would be shadowed by it (``import
sovctl.mirror.sync as m`` would give the function). To replace a name in a test,
patch it where it is looked up: in the module that calls it (e.g.
``sovctl.mirror.syncing.download``), not on this package.
"""

from __future__ import annotations

from sovctl.mirror.cache import Cache, default_cache_dir, sha256_file
from sovctl.mirror.catalogue import (
    CATALOGUE_RELPATH,
    CATALOGUE_VAR,
    FORMATS,
    NAME,
    SHA256,
    SOURCE_KINDS,
    Artifact,
    Catalogue,
    catalogue_path,
    load_catalogue,
    version_key,
)
from sovctl.mirror.gobuild import (
    GO_BUILD_ENV,
    GO_BUILD_FLAGS,
    GO_ENV_PASSTHROUGH,
    GO_PROXY,
    build_go,
    go_proxy,
    go_toolchain,
    host_platform,
)
from sovctl.mirror.sbom import MANIFEST_NAME, SBOM_NAME, build_manifest, build_sbom
from sovctl.mirror.server import make_server, serve, server_url
from sovctl.mirror.sources import (
    CHUNK,
    MAVEN_CENTRAL,
    USER_AGENT,
    ArtifactError,
    Log,
    download,
    go_target,
    maven_url,
    purl,
    source_label,
    source_urls,
)
from sovctl.mirror.syncing import SyncEntry, SyncResult, obtain, sync

__all__ = [
    "CATALOGUE_RELPATH", "CATALOGUE_VAR", "CHUNK", "FORMATS", "GO_BUILD_ENV", "GO_BUILD_FLAGS",
    "GO_ENV_PASSTHROUGH", "GO_PROXY", "MANIFEST_NAME", "MAVEN_CENTRAL", "NAME", "SBOM_NAME",
    "SHA256", "SOURCE_KINDS", "USER_AGENT",
    "Artifact", "ArtifactError", "Cache", "Catalogue", "Log", "SyncEntry", "SyncResult",
    "build_go", "build_manifest", "build_sbom", "catalogue_path", "default_cache_dir",
    "download", "go_proxy", "go_target", "go_toolchain", "host_platform", "load_catalogue",
    "make_server", "maven_url", "obtain", "purl", "serve", "server_url", "sha256_file",
    "source_label", "source_urls", "sync", "version_key",
]
