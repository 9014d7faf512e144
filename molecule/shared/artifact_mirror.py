"""A scenario's artifact mirror, served from the controller on the podman bridge.

    python artifact_mirror.py start NAME[@VERSION]...   # sync them, serve, print JSON
    python artifact_mirror.py stop

`start` fills <ephemeral>/mirror with `sovctl mirror sync --only ...` (from the local
cache; a go-module artifact not cached yet is built once, which takes minutes) and
starts `sovctl mirror serve` on the bridge's gateway address, so only the test
containers and this machine reach it. The server stops by itself after 15 minutes
even if `stop` is never called. Prints JSON: url, artifacts. Each scenario has its own
ephemeral directory, so scenarios running at the same time do not share a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sovctl import mirror

LIFETIME_SECONDS = 900


def ephemeral_dir() -> Path:
    env = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not env:
        raise SystemExit("MOLECULE_EPHEMERAL_DIRECTORY is not set: run this through molecule")
    path = Path(env)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file() -> Path:
    return ephemeral_dir() / "artifact-mirror.json"


def bridge_gateway() -> str:
    proc = subprocess.run(
        ["podman", "network", "inspect", "podman", "--format",
         "{{range .Subnets}}{{.Gateway}} {{end}}"],
        capture_output=True, text=True, check=True)
    for addr in proc.stdout.split():
        if re.match(r"^\d+\.\d+\.\d+\.\d+$", addr):
            return addr
    raise SystemExit(f"no IPv4 gateway on podman's default network: {proc.stdout!r}")


def fill(refs: list[str]) -> list[str]:
    cat = mirror.load_catalogue()
    only = [a.ref for a in cat.select(refs)]
    result = mirror.sync(ephemeral_dir() / "mirror", only=only, catalogue=cat,
                         log=lambda m: print(m, file=sys.stderr))
    return [e.artifact.ref for e in result.in_mirror]


def _alive(pid: int) -> bool:
    """True if pid is still the `timeout ... sovctl mirror serve` this script started."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"timeout" in cmdline[0] and b"serve" in cmdline


def _read_state() -> dict | None:
    try:
        return json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None


def serve(directory: Path, artifacts: list[str]) -> dict:
    """Serve directory on the bridge (reusing this scenario's server while it has time left)."""
    state = _read_state()
    if state and _alive(state["pid"]):
        # Reuse a running server only while it has time left for a whole playbook run.
        if time.time() - state.get("started", 0) < LIFETIME_SECONDS - 600:
            return dict(state, artifacts=artifacts)
        _kill(state["pid"])
    log = ephemeral_dir() / "artifact-mirror.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["timeout", str(LIFETIME_SECONDS), sys.executable, "-m", "sovctl", "mirror", "serve",
             str(directory), "--bind", bridge_gateway(), "--port", "0", "--quiet"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"at (http://[\d.]+:\d+)/", log.read_text())
        if match:
            state = {"pid": proc.pid, "url": match.group(1), "artifacts": artifacts,
                     "started": time.time()}
            state_file().write_text(json.dumps(state))
            return state
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _kill(proc.pid)
    raise SystemExit(f"`sovctl mirror serve` did not start:\n{log.read_text()}")


def start(refs: list[str]) -> dict:
    return serve(ephemeral_dir() / "mirror", fill(refs))


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGTERM)  # the process group this script started


def stop() -> None:
    state = _read_state()
    if state and _alive(state["pid"]):
        _kill(state["pid"])
    if state:
        state_file().unlink(missing_ok=True)


if __name__ == "__main__":
    action, *names = sys.argv[1:] or [""]
    if action == "start" and names:
        print(json.dumps(start(names)))
    elif action == "stop":
        stop()
    else:
        raise SystemExit(__doc__)
