"""``sovctl mirror``: fill and serve an artifact mirror from the catalogue."""

from __future__ import annotations

from pathlib import Path

import click

from sovctl import mirror


@click.group("mirror")
def command() -> None:
    """Artifact mirror: Keycloak, LiveKit and other non-Debian files, checksummed.

    Hosts install from it when the inventory sets sov_artifact_mirror (the URL of
    the mirror); the layout is <name>/<version>/<filename>.

    \b
    Example:
      sovctl mirror sync /srv/sovctl-mirror && sovctl mirror serve /srv/sovctl-mirror
    """


@command.command("list")
def list_cmd() -> None:
    """Show the artifact catalogue: versions, sha256 and sources in order.

    \b
    Example:
      sovctl mirror list
    """
    cat = mirror.load_catalogue()
    for a in cat.artifacts:
        click.echo(f"{a.name:<16} {a.version:<10} {a.format:<7} sha256:{a.sha256}")
        for src in a.sources:
            click.echo(f"    {mirror.source_label(src)}")
    click.echo(f"Catalogue: {cat.path}")


@command.command("sync")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--only", multiple=True, metavar="NAME[@VERSION]",
              help="Only this artifact (every catalogued version, or one). Repeatable.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="SOVCTL_CACHE_DIR", show_envvar=True,
              help="Local cache of artifacts by sha256 (default: ~/.cache/sovctl).")
@click.option("--maven-repository", metavar="URL", envvar="SOVCTL_MAVEN_REPOSITORY",
              show_envvar=True, default=mirror.MAVEN_CENTRAL, show_default=True,
              help="Maven repository for maven sources (e.g. your own proxy of Maven Central).")
def sync_cmd(directory: Path, only: tuple[str, ...], cache_dir: Path | None,
             maven_repository: str) -> None:
    """Fetch or build every catalogued artifact into DIR and verify its sha256.

    Writes DIR/manifest.json and a CycloneDX 1.5 SBOM (DIR/sbom.cdx.json). Files
    are cached by sha256, so a second run downloads and builds nothing. Go modules
    are built with the catalogue's pinned Go toolchain (fetched from the Go module
    proxy, honours GOPROXY).

    \b
    Example:
      sovctl mirror sync /srv/sovctl-mirror
      sovctl mirror sync /srv/sovctl-mirror --only keycloak@26.7.3
    """
    result = mirror.sync(directory, only=only, cache=mirror.Cache(cache_dir),
                         maven_repository=maven_repository, log=click.echo)
    for entry in result.entries:
        a = entry.artifact
        click.echo(f"{a.name:<16} {a.version:<10} {entry.status:<10} {a.path}")
    click.echo(f"Wrote {result.manifest} and {result.sbom} "
               f"({len(result.in_mirror)} artifact(s) in the mirror, all sha256 verified).")
    click.echo(f"Next: `sovctl mirror serve {directory}`, or serve it with any web server, "
               "and set sov_artifact_mirror to its URL.")


@command.command("serve")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (e.g. the podman bridge 10.88.0.1 for test hosts).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--quiet", is_flag=True, help="Do not log each request.")
def serve_cmd(directory: Path, bind: str, port: int, quiet: bool) -> None:
    """Serve a mirror directory over HTTP (for test hosts and small sites).

    Production sites can serve the same directory with any web server.

    \b
    Example:
      sovctl mirror serve /srv/sovctl-mirror --bind 10.88.0.1 --port 8765
    """
    mirror.serve(directory, bind=bind, port=port, log=lambda m: click.echo(m),
                 access_log=None if quiet else lambda m: click.echo(m, err=True))
