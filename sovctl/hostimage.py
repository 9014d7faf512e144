"""Build the Debian test-host image (systemd as PID 1) without any registry.

The image is made with debootstrap from a Debian mirror and imported into
podman, tagged by a hash of its recipe so that an unchanged recipe is never
rebuilt. Used by the molecule scenarios and by ``sovctl sandbox``.

    python -m sovctl.hostimage            # build if needed, print the image name
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sovctl.errors import UnavailableError

IMAGE_REPO = "localhost/sovctl-testhost"
SUITE = os.environ.get("SOVCTL_TESTHOST_SUITE", "trixie")
MIRROR = os.environ.get("SOVCTL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "python3", "python3-apt", "iproute2", "procps",
    "ca-certificates", "openssh-client", "openssh-server", "sudo",
]
# Each host gets its own SSH host keys at first boot, as a cloud image does (the
# image itself carries none).
HOSTKEYS_UNIT = """[Unit]
Description=Generate this host's SSH host keys (first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""
# Units that cannot work inside a container: masked so `systemctl is-system-running`
# reports what the roles did, not the container's limits.
MASKED_UNITS = [
    "systemd-modules-load.service", "systemd-udevd.service", "systemd-udev-trigger.service",
    "systemd-remount-fs.service", "systemd-firstboot.service", "getty@tty1.service",
    "console-getty.service", "sys-kernel-config.mount", "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount", "systemd-sysctl.service", "systemd-networkd-wait-online.service",
    "apt-daily.timer", "apt-daily-upgrade.timer",
]


def recipe() -> dict:
    return {"suite": SUITE, "mirror": MIRROR, "packages": PACKAGES, "masked": MASKED_UNITS,
            "hostkeys_unit": HOSTKEYS_UNIT, "recipe_version": 4}


def image_tag() -> str:
    digest = hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]
    return f"{IMAGE_REPO}:{SUITE}-{digest}"


def _podman(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], check=check, **kw)


def image_exists(tag: str) -> bool:
    return _podman("image", "exists", tag, check=False).returncode == 0


def build(force: bool = False, log=print) -> str:
    tag = image_tag()
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            raise UnavailableError(f"{tool} is not installed",
                                   hint="run `make deps` (apt-get install podman runc debootstrap)")
    if image_exists(tag) and not force:
        _podman("tag", tag, f"{IMAGE_REPO}:latest")
        return tag
    with tempfile.TemporaryDirectory(prefix="sovctl-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"building {tag} with debootstrap from {MIRROR} (about a minute)")
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
             SUITE, str(rootfs), MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        for unit in MASKED_UNITS:
            link = rootfs / "etc/systemd/system" / unit
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to("/dev/null")
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        unit = rootfs / "etc/systemd/system/sovctl-ssh-hostkeys.service"
        unit.write_text(HOSTKEYS_UNIT)
        wants = rootfs / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
        (rootfs / "etc/hostname").write_text("testhost\n")
        (rootfs / "etc/machine-id").write_text("")
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        # Empty package lists look ancient, so `apt: cache_valid_time` refreshes them.
        os.utime(rootfs / "var/lib/apt/lists", (0, 0))
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _podman("import", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
                "-", tag, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise UnavailableError("tar of the test-host rootfs failed")
    _podman("tag", tag, f"{IMAGE_REPO}:latest")
    return tag


if __name__ == "__main__":
    print(build(force="--force" in sys.argv, log=lambda m: print(m, file=sys.stderr)))
