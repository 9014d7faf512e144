"""Serve: a mirror over HTTP, for test hosts and small sites."""

from __future__ import annotations

from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sovctl import __version__
from sovctl.errors import InputError
from sovctl.mirror.sbom import MANIFEST_NAME
from sovctl.mirror.sources import Log


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
