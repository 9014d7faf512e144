"""The local sandbox: systemd test hosts in podman, described by inventories/sandbox.

The hosts get fixed addresses on a podman network of their own (``sandbox_subnet``,
``ansible_host``), so the inventory can name them; the network's gateway is this
machine, where ``up`` serves the artifact mirror the hosts install Keycloak and
LiveKit from (``sov_artifact_mirror``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from sovctl import paths
from sovctl.errors import InputError, UnavailableError
from sovctl.inventory import load_inventory
from sovctl.paths import default_inventory, project_root

LABEL = "io.sovctl.sandbox"
NETWORK = "sovctl-sandbox"
# The artifacts the sandbox installs from its mirror: role name -> (catalogue name, version var).
MIRRORED = {"keycloak": ("keycloak", "keycloak_version"),
            "livekit": ("livekit-server", "livekit_version")}


@dataclass
class SandboxHost:
    name: str
    groups: list[str]
    ports: list[str]
    ip: str = ""
    state: str = "absent"
    address: str = ""
    vars: dict = field(default_factory=dict)


# Podman settings for the test hosts (the Makefile exports the same file for molecule).
CONTAINERS_CONF = Path(__file__).resolve().parent / "data" / "containers.conf"


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def _podman(*args: str, check: bool = True, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise UnavailableError("podman is not installed",
                               hint="run `make deps` (apt-get install podman runc)")
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(),
                          input=stdin)
    if check and proc.returncode != 0:
        raise UnavailableError(f"podman {' '.join(args[:2])} failed: {proc.stderr.strip()}",
                               hint="see `podman ps -a`; `sovctl sandbox down` removes the sandbox")
    return proc


def state_dir() -> Path:
    """Runtime state of the sandbox (its artifact mirror, some hundred MB, and the mirror
    server's pid), outside the inventory, which is copied and hashed: ``.sovctl/sandbox``
    in a checkout, ``sandbox-runtime`` beside the sandbox's inventory when installed."""
    if paths.installed():
        path = paths.sandbox_location().parent / "sandbox-runtime"
    else:
        path = project_root() / ".sovctl" / "sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hosts(inventory: Path | None = None) -> list[SandboxHost]:
    inventory = Path(inventory or default_inventory())
    inv = load_inventory(inventory)
    found = []
    for h in inv.hosts.values():
        found.append(SandboxHost(h.name, h.groups, list(h.vars.get("sandbox_ports") or []),
                                 _literal_ip(h.vars.get("ansible_host")), vars=h.vars))
    return found


def _literal_ip(value) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return ""


def network(inventory: Path | None = None,
            found: list[SandboxHost] | None = None) -> tuple[str, str]:
    """(subnet, gateway) of the sandbox network, from ``sandbox_subnet``."""
    inventory = Path(inventory or default_inventory())
    found = hosts(inventory) if found is None else found
    subnet = next((h.vars.get("sandbox_subnet") for h in found if h.vars.get("sandbox_subnet")),
                  None)
    if not subnet:
        return "", ""
    try:
        net = ipaddress.ip_network(subnet)
    except ValueError as exc:
        raise InputError(f"sandbox_subnet {subnet!r} is not a network: {exc}",
                         file=str(inventory / "hosts.yml"), field="sandbox_subnet",
                         hint="write it as an IPv4 network, e.g. 10.231.47.0/24") from exc
    for h in found:
        if h.ip and ipaddress.ip_address(h.ip) not in net:
            raise InputError(f"ansible_host {h.ip} of {h.name} is outside sandbox_subnet {subnet}",
                             file=str(inventory / "hosts.yml"), field=f"{h.name}.ansible_host",
                             hint=f"give {h.name} an address in {subnet}")
    return str(net), str(next(net.hosts()))


def inspect(host: SandboxHost) -> SandboxHost:
    proc = _podman("inspect", host.name, "--format", "json", check=False)
    if proc.returncode == 0:
        data = json.loads(proc.stdout)[0]
        host.state = data["State"]["Status"]
        nets = data["NetworkSettings"].get("Networks") or {}
        host.address = (nets.get(NETWORK, {}).get("IPAddress")
                        or data["NetworkSettings"].get("IPAddress", ""))
    else:
        host.state, host.address = "absent", ""
    return host


def _ensure_network(subnet: str, gateway: str, log) -> None:
    if _podman("network", "exists", NETWORK, check=False).returncode == 0:
        return
    _podman("network", "create", "--subnet", subnet, "--gateway", gateway,
            "--label", f"{LABEL}=1", NETWORK)
    log(f"created podman network {NETWORK} ({subnet})")


# --------------------------------------------------------------------------
# SSH: sovctl reaches the sandbox's hosts as it reaches real servers


def ssh_dir(inventory: Path) -> Path:
    path = Path(inventory) / ".sovctl-ssh"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def ssh_key(inventory: Path) -> Path:
    """The sandbox's SSH key (generated once, kept beside the inventory's vault password)."""
    key = ssh_dir(inventory) / "id_ed25519"
    if not key.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sovctl-sandbox",
                        "-f", str(key)], check=True)
    return key


def authorize(inventory: Path, found: list[SandboxHost]) -> None:
    """Authorize the sandbox key for root on each host and record the hosts' keys."""
    key = ssh_key(inventory)
    public = Path(f"{key}.pub").read_text()
    for host in found:
        _podman("exec", "-i", host.name, "sh", "-c",
                "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
                stdin=public)
    lines = []
    for host in found:
        deadline = time.monotonic() + 60
        while True:
            scan = subprocess.run(["ssh-keyscan", "-T", "3", "-t", "ed25519", host.ip],
                                  capture_output=True, text=True)
            keys = [ln for ln in scan.stdout.splitlines() if ln and not ln.startswith("#")]
            if keys:
                lines += keys
                break
            if time.monotonic() > deadline:
                raise UnavailableError(f"{host.name} ({host.ip}) does not answer on SSH",
                                       hint=f"see `podman exec {host.name} systemctl status ssh`")
            time.sleep(1)
    known = ssh_dir(inventory) / "known_hosts"
    known.write_text("\n".join(lines) + "\n")
    # Absolute paths: the same for Ansible, testinfra and copies of the inventory.
    settings = {"ansible_user": "root", "ansible_ssh_private_key_file": str(key.resolve()),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={known.resolve()} "
                                           "-o IdentitiesOnly=yes"}
    target = Path(inventory) / "group_vars" / "all" / "sandbox_ssh.yml"
    text = ("---\n# Written by `sovctl sandbox up`: how sovctl reaches the sandbox's hosts.\n"
            + yaml.safe_dump(settings, sort_keys=True))
    if not target.is_file() or target.read_text() != text:
        target.write_text(text)


# --------------------------------------------------------------------------
# The artifact mirror, served on the network's gateway


def mirror_refs(found: list[SandboxHost]) -> list[str]:
    """The catalogue artifacts the sandbox's roles install, at the versions they pin."""
    refs = []
    groups = {g for h in found for g in h.groups}
    wanted = {"keycloak": "identity", "livekit": "conferencing"}
    for role, (name, var) in MIRRORED.items():
        if wanted[role] not in groups:
            continue
        defaults = yaml.safe_load((project_root() / "roles" / role / "defaults" / "main.yml")
                                  .read_text())
        refs.append(f"{name}@{defaults[var]}")
    return refs


def _mirror_url(found: list[SandboxHost]) -> str:
    return next((str(h.vars["sov_artifact_mirror"]) for h in found
                 if h.vars.get("sov_artifact_mirror")), "")


def _mirror_state() -> dict | None:
    try:
        return json.loads((state_dir() / "mirror.json").read_text())
    except (OSError, ValueError):
        return None


def _mirror_alive(state: dict | None) -> bool:
    if not state:
        return False
    try:
        cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes()
    except OSError:
        return False
    return b"mirror" in cmdline and b"serve" in cmdline


def mirror_up(inventory: Path | None = None, log=print,
              found: list[SandboxHost] | None = None) -> str:
    """Fill the sandbox's mirror and serve it where ``sov_artifact_mirror`` points."""
    from sovctl import mirror

    inventory = Path(inventory or default_inventory())
    found = hosts(inventory) if found is None else found
    url = _mirror_url(found)
    refs = mirror_refs(found)
    if not url or not refs:
        return ""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise InputError(f"sov_artifact_mirror {url!r} is not http://ADDRESS:PORT",
                         file=str(inventory / "group_vars" / "all" / "main.yml"),
                         field="sov_artifact_mirror",
                         hint="the sandbox serves its mirror at http://<gateway>:<port>")
    state = _mirror_state()
    if _mirror_alive(state) and state.get("url") == url and state.get("artifacts") == refs:
        return url
    mirror_stop()
    directory = state_dir() / "mirror"
    log(f"Filling the sandbox's artifact mirror: {', '.join(refs)} "
        "(from the local cache; the first time LiveKit is built, which takes minutes)")
    mirror.sync(directory, only=refs, log=log)
    logfile = state_dir() / "mirror.log"
    with open(logfile, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sovctl", "mirror", "serve", str(directory),
             "--bind", parts.hostname, "--port", str(parts.port), "--quiet"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "Serving" in logfile.read_text():
            (state_dir() / "mirror.json").write_text(
                json.dumps({"pid": proc.pid, "url": url, "artifacts": refs}))
            log(f"serving the artifact mirror at {url}")
            return url
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    raise UnavailableError(f"the sandbox's mirror did not start at {url}:\n"
                           f"{logfile.read_text().strip()}",
                           hint="another program may hold the port: change sov_artifact_mirror")


def mirror_stop() -> None:
    state = _mirror_state()
    if _mirror_alive(state):
        with contextlib.suppress(OSError):
            os.killpg(state["pid"], signal.SIGTERM)
    (state_dir() / "mirror.json").unlink(missing_ok=True)


# --------------------------------------------------------------------------


def up(inventory: Path | None = None, log=print) -> list[SandboxHost]:
    from sovctl import hostimage, secrets

    os.environ.setdefault("CONTAINERS_CONF", podman_env()["CONTAINERS_CONF"])
    inventory = Path(inventory or default_inventory())
    found = hosts(inventory)
    subnet, gateway = network(inventory, found)
    image = hostimage.build(log=log)
    result = secrets.ensure(inventory)
    if result.added:
        log(f"Generated {len(result.added)} secret(s) into {result.vault_file}")
    if subnet:
        _ensure_network(subnet, gateway, log)
    started = []
    for host in found:
        inspect(host)
        if host.state == "running":
            started.append(host)
            continue
        if host.state != "absent":
            _podman("start", host.name)
        else:
            args = ["run", "-d", "--name", host.name, "--hostname", host.name,
                    "--label", f"{LABEL}=1", "--privileged", "--systemd=always"]
            if subnet:
                args += ["--network", NETWORK]
                if host.ip:
                    args += ["--ip", host.ip]
            # Every sandbox host knows the others by name, as DNS would tell them.
            for other in found:
                if other.ip and other.name != host.name:
                    args += ["--add-host", f"{other.name}:{other.ip}"]
            for port in host.ports:
                args += ["-p", f"127.0.0.1:{port}"]
            _podman(*args, image, "/sbin/init")
        log(f"started {host.name}")
        started.append(inspect(host))
    authorize(inventory, [h for h in started if h.ip])
    if subnet:
        mirror_up(inventory, log=log, found=found)
    return started


def down(inventory: Path | None = None, log=print) -> None:
    mirror_stop()
    for host in hosts(inventory):
        if inspect(host).state != "absent":
            _podman("rm", "-f", "-t", "5", host.name)
            log(f"removed {host.name}")
    if _podman("network", "exists", NETWORK, check=False).returncode == 0:
        _podman("network", "rm", NETWORK, check=False)


def urls(host: SandboxHost) -> list[str]:
    """What a user connects to, for each service on this host."""
    out = []
    v = host.vars
    if "meet" in host.groups:
        out.append(f"https://{v.get('meet_hostname', host.address)}  (the meeting app: sign in, "
                   "start a meeting, share its link)")
    if "identity" in host.groups:
        out.append(f"{v.get('keycloak_hostname', 'https://' + host.address)}"
                   "/realms/sov/account  (Keycloak: your account)")
    if "conferencing" in host.groups:
        out.append(f"wss://{v.get('livekit_hostname', host.address)}  (LiveKit signalling)")
    if "office" in host.groups:
        out.append(f"{v.get('collabora_hostname', 'https://' + host.address)}"
                   "/hosting/discovery  (Collabora discovery)")
    if "turn" in host.groups:
        out += ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp",
                "turns:127.0.0.1:5349?transport=tcp"]
    return out
