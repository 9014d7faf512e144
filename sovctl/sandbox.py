"""The local sandbox: systemd test hosts in podman, described by inventories/sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sovctl.errors import UnavailableError
from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory, project_root

LABEL = "io.sovctl.sandbox"


@dataclass
class SandboxHost:
    name: str
    groups: list[str]
    ports: list[str]
    state: str = "absent"
    address: str = ""


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(project_root() / "molecule" / "containers.conf"))
    return env


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise UnavailableError("podman is not installed",
                               hint="run `make deps` (apt-get install podman runc)")
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True,
                          env=podman_env())


def hosts(inventory: Path | None = None) -> list[SandboxHost]:
    inv = load_inventory(inventory or default_inventory())
    found = []
    for h in inv.hosts.values():
        found.append(SandboxHost(h.name, h.groups, list(h.vars.get("sandbox_ports") or [])))
    return found


def inspect(host: SandboxHost) -> SandboxHost:
    proc = _podman("inspect", host.name, "--format", "json", check=False)
    if proc.returncode == 0:
        data = json.loads(proc.stdout)[0]
        host.state = data["State"]["Status"]
        host.address = data["NetworkSettings"].get("IPAddress", "")
    return host


def up(inventory: Path | None = None, log=print) -> list[SandboxHost]:
    from sovctl import hostimage, secrets

    os.environ.setdefault("CONTAINERS_CONF", podman_env()["CONTAINERS_CONF"])
    image = hostimage.build(log=log)
    inventory = inventory or default_inventory()
    result = secrets.ensure(inventory)
    if result.added:
        log(f"Generated {len(result.added)} secret(s) into {result.vault_file}")
    started = []
    for host in hosts(inventory):
        inspect(host)
        if host.state == "running":
            started.append(host)
            continue
        if host.state != "absent":
            _podman("start", host.name)
        else:
            args = ["run", "-d", "--name", host.name, "--hostname", host.name,
                    "--label", f"{LABEL}=1", "--privileged", "--systemd=always"]
            for port in host.ports:
                args += ["-p", f"127.0.0.1:{port}"]
            _podman(*args, image, "/sbin/init")
        log(f"started {host.name}")
        started.append(inspect(host))
    return started


def down(inventory: Path | None = None, log=print) -> None:
    for host in hosts(inventory):
        if inspect(host).state != "absent":
            _podman("rm", "-f", "-t", "5", host.name)
            log(f"removed {host.name}")


def urls(host: SandboxHost) -> list[str]:
    """What a user connects to, for each service on this host."""
    out = []
    if "turn" in host.groups:
        out += ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp",
                "turns:127.0.0.1:5349?transport=tcp"]
    return out
