"""A scenario's test hosts start from a layer with its roles' Debian packages installed.

Run by the scenarios' dependency step (before `create`):

    python molecule/shared/hostlayer.py SCENARIO_DIR

When SCENARIO_DIR/molecule.yml names roles in its provisioner's environment
(`SOVCTL_TEST_IMAGE_ROLES: "postgresql keycloak nginx"`), the packages those roles
install (their plain `*_packages` lists in vars/ and defaults/) are installed once into a
layer on top of the test-host image (sovctl/hostimage.py), and the layer is tagged
`localhost/sovctl-testhost-layer:<scenario>` for the scenario's platforms. Converges
then install nothing that is already there: Java, PostgreSQL, Redis and their
dependencies are not downloaded and unpacked on every run, on every host.

The layer is keyed by the base image's tag, every file of the named roles and the
package list: a change to a role (its tasks, defaults, templates, packages) builds a new
layer, an unchanged recipe is never rebuilt. It is a cache, not a decision: the roles
still install, configure and start everything themselves, and the services the packages
enabled are disabled again in the layer, so each role's own tasks enable and start them.
Each host gets its own SSH host keys and snakeoil certificate at first boot, as from the
base image; the package lists are emptied, so the roles' `apt` refreshes them.

A scenario without SOVCTL_TEST_IMAGE_ROLES is left alone (the base image).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sovctl import hostimage  # noqa: E402  (the project's own package)

LAYER_REPO = "localhost/sovctl-testhost-layer"
LAYER_VERSION = 1
SNAKEOIL_UNIT = """[Unit]
Description=Generate this host's snakeoil certificate (first boot)
Before=postgresql.service nginx.service
ConditionPathExists=!/etc/ssl/private/ssl-cert-snakeoil.key
ConditionPathExists=/usr/sbin/make-ssl-cert

[Service]
Type=oneshot
ExecStart=/usr/sbin/make-ssl-cert generate-default-snakeoil

[Install]
WantedBy=multi-user.target
"""
# Runs in a container of the base image (not booted: nothing starts). Enabled-unit links
# the packages add are removed, so the roles' own tasks decide what is enabled.
BUILD_SCRIPT = """set -eu
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
links() { find /etc/systemd/system -path '*.wants/*' -o -path '*.requires/*' | sort; }
links > /tmp/links-before
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
links > /tmp/links-after
comm -13 /tmp/links-before /tmp/links-after | xargs -r rm -f
rm -f /usr/sbin/policy-rc.d /tmp/links-before /tmp/links-after /etc/ssh/ssh_host_*
rm -f /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem
cat > /etc/systemd/system/sovctl-snakeoil.service
ln -sf /etc/systemd/system/sovctl-snakeoil.service \
  /etc/systemd/system/multi-user.target.wants/sovctl-snakeoil.service
: > /etc/machine-id
apt-get clean
rm -rf /var/lib/apt/lists && mkdir -p /var/lib/apt/lists/partial
touch -d @0 /var/lib/apt/lists
"""


def scenario_roles(scenario_dir: Path) -> list[str]:
    """The roles SCENARIO_DIR/molecule.yml names for its layer, in order."""
    config = yaml.safe_load((scenario_dir / "molecule.yml").read_text(encoding="utf-8")) or {}
    env = (config.get("provisioner") or {}).get("env") or {}
    return str(env.get("SOVCTL_TEST_IMAGE_ROLES", "")).split()


def role_packages(roles_dir: Path, roles: list[str]) -> list[str]:
    """The Debian packages the roles install: their plain `*_packages` lists in vars/
    and defaults/ (a templated entry is the operator's choice, left to the converge)."""
    packages: set[str] = set()
    for role in roles:
        for source in ("vars/main.yml", "defaults/main.yml"):
            path = roles_dir / role / source
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
            for name, value in (data or {}).items():
                if not name.endswith("_packages") or not isinstance(value, list):
                    continue
                packages.update(p for p in value if isinstance(p, str) and "{" not in p)
    return sorted(packages)


def layer_key(base_tag: str, roles_dir: Path, roles: list[str]) -> str:
    """A hash of what the layer is built from: base image, the roles' files, packages."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"base": base_tag, "version": LAYER_VERSION,
                              "script": BUILD_SCRIPT, "snakeoil": SNAKEOIL_UNIT,
                              "packages": role_packages(roles_dir, roles)},
                             sort_keys=True).encode())
    for role in roles:
        role_dir = roles_dir / role
        if not role_dir.is_dir():
            raise SystemExit(f"hostlayer: role {role!r} (SOVCTL_TEST_IMAGE_ROLES) has no "
                             f"directory {role_dir}: name roles of {roles_dir}")
        for path in sorted(p for p in role_dir.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(roles_dir)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _podman(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], check=check, **kw)


def ensure(scenario_dir: Path, roles_dir: Path = ROOT / "roles", log=print) -> str | None:
    """Build the scenario's layer if its key has none yet; tag it for the scenario."""
    roles = scenario_roles(scenario_dir)
    if not roles:
        return None
    scenario = scenario_dir.name
    lock_dir = Path(os.environ.get("SOVCTL_CACHE_DIR", Path.home() / ".cache/sovctl"))
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "hostlayer.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        base = hostimage.build(log=log)
        packages = role_packages(roles_dir, roles)
        keyed = f"{LAYER_REPO}:{layer_key(base, roles_dir, roles)}"
        if _podman("image", "exists", keyed, check=False).returncode != 0:
            log(f"hostlayer: building {keyed} for {scenario} ({', '.join(roles)}): "
                f"{len(packages)} packages")
            name = f"sovctl-layer-{scenario}-{os.getpid()}"
            _podman("rm", "-f", name, check=False, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
            try:
                _podman("run", "--name", name, "-i", base, "/bin/bash", "-c",
                        BUILD_SCRIPT, "layer", *packages, input=SNAKEOIL_UNIT, text=True)
                _podman("commit", "--quiet", "--change", 'CMD ["/sbin/init"]',
                        "--change", "STOPSIGNAL=SIGRTMIN+3", name, keyed,
                        stdout=subprocess.DEVNULL)
            finally:
                _podman("rm", "-f", name, check=False, stdout=subprocess.DEVNULL)
        _podman("tag", keyed, f"{LAYER_REPO}:{scenario}")
    log(f"hostlayer: {scenario} starts from {keyed}")
    return keyed


if __name__ == "__main__":
    ensure(Path(sys.argv[1]).resolve())
