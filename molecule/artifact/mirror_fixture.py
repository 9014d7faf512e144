"""The artifact scenario's test mirror, served from the controller on the podman bridge.

    python mirror_fixture.py start   # fill <ephemeral>/mirrors/good, serve <ephemeral>/mirrors
    python mirror_fixture.py stop

`start` syncs the Keycloak zips (N-1 and N) with `sovctl mirror sync` (from the
local cache, else Maven Central) and livekit-server only if the cache already has
it (building it takes minutes: `make integration` does that), then starts
`sovctl mirror serve` on the bridge's gateway address, so only the test
containers and this machine can reach it. The server stops by itself after
15 minutes even if `stop` is never called. Prints JSON: url, base, artifacts.
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
KEYCLOAK = ["keycloak"]
OPTIONAL = ["livekit-server"]


def ephemeral_dir() -> Path:
    env = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    path = Path(env) if env else Path("/var/tmp/sovctl-molecule-artifact")
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirrors_dir() -> Path:
    return ephemeral_dir() / "mirrors"


def state_file() -> Path:
    return ephemeral_dir() / "mirror-server.json"


def bridge_gateway() -> str:
    proc = subprocess.run(
        ["podman", "network", "inspect", "podman", "--format",
         "{{range .Subnets}}{{.Gateway}} {{end}}"],
        capture_output=True, text=True, check=True)
    for addr in proc.stdout.split():
        if re.match(r"^\d+\.\d+\.\d+\.\d+$", addr):
            return addr
    raise SystemExit(f"no IPv4 gateway on podman's default network: {proc.stdout!r}")


def fill() -> list[str]:
    """Sync the scenario's artifacts into mirrors/good; returns name@version of each."""
    cat = mirror.load_catalogue()
    cache = mirror.Cache()
    only = list(KEYCLOAK)
    for name in OPTIONAL:
        only += [a.ref for a in cat.select([name]) if cache.lookup(a.sha256)]
    result = mirror.sync(mirrors_dir() / "good", only=only, catalogue=cat, cache=cache,
                         log=lambda m: print(m, file=sys.stderr))
    return [e.artifact.ref for e in result.in_mirror]


def _alive(pid: int) -> bool:
    """True if pid is still the `timeout ... sovctl mirror serve` this script started."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"timeout" in cmdline[0] and b"serve" in cmdline


def start() -> dict:
    artifacts = fill()
    state = _read_state()
    if state and _alive(state["pid"]):
        state["artifacts"] = artifacts
        return state
    log = ephemeral_dir() / "mirror-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["timeout", str(LIFETIME_SECONDS), sys.executable, "-m", "sovctl", "mirror", "serve",
             str(mirrors_dir()), "--bind", bridge_gateway(), "--port", "0", "--quiet"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"at (http://[\d.]+:\d+)/", log.read_text())
        if match:
            base = match.group(1)
            state = {"pid": proc.pid, "base": base, "url": f"{base}/good",
                     "artifacts": artifacts}
            state_file().write_text(json.dumps(state))
            return state
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _kill(proc.pid)
    raise SystemExit(f"`sovctl mirror serve` did not start:\n{log.read_text()}")


def _read_state() -> dict | None:
    try:
        return json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None


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
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if action == "start":
        print(json.dumps(start()))
    elif action == "stop":
        stop()
    else:
        raise SystemExit(__doc__)
