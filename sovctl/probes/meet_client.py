"""What the meeting app's probes use to reach it: pinned names, signed session cookies,
HTTP calls with the deployment's CA, and the browser flow (meet_browser) in its own process."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from sovctl.probes import Skipped, context, expect

SESSION_COOKIE = "sovmeet_session"
API = {"X-Sovmeet-Request": "1"}
CHROMIUM = os.environ.get("SOVCTL_CHROMIUM", "/usr/bin/chromium")


def artifacts_dir() -> Path:
    scenario = os.environ.get("MOLECULE_SCENARIO_DIRECTORY")
    path = Path(scenario) / "artifacts" if scenario else Path(".sovctl") / "artifacts" / "meet"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def names_resolve_to(mapping: dict[str, str]):
    """The service names resolve to the test host for the requests in this block only."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real(mapping.get(host, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def service_address(group: str, fallback: str) -> str:
    """Where a service's public name points: the edge of its group's first host."""
    hosts = context.hosts(group)
    return context.address_of(hosts[0].name) if hosts else fallback


def pinned(mapping: dict[str, str]) -> dict[str, str]:
    """Each service name with the address the checks and the browser use for it.

    A name DNS resolves here (a production inventory) keeps its DNS address, as users
    resolve it; a name it does not (test hosts) points at the host serving it. The
    browser resolves nothing else, so no page can load from outside the deployment.
    """
    out = {}
    for name, fallback in mapping.items():
        if not name or is_ip(name):
            continue
        try:
            out[name] = socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)[0][4][0]
        except OSError:
            out[name] = fallback
    return out


def session_cookie(secret: str, data: dict, signed_at: float | None = None) -> str:
    """A session cookie as the app's SessionMiddleware (itsdangerous) signs it."""
    import itsdangerous

    class At(itsdangerous.TimestampSigner):
        def get_timestamp(self):
            return int(signed_at if signed_at is not None else time.time())

    payload = base64.b64encode(json.dumps(data).encode())
    return At(secret).sign(payload).decode()


def user_cookie(meet, *, signed_at=None, exp_in=3600, user_id="check0000000000000000") -> str:
    return session_cookie(meet["settings"]["session_secret"],
                           {"user": {"id": user_id, "name": "Check",
                                     "exp": int(time.time()) + exp_in}}, signed_at)


def get(meet, path, cookie=None, **kw):
    import requests

    cookies = {SESSION_COOKIE: cookie} if cookie else None
    return requests.get(meet["url"] + path, cookies=cookies, verify=meet["ca"],
                        allow_redirects=False, timeout=15, **kw)


def post(meet, path, cookie=None, **kw):
    import requests

    cookies = {SESSION_COOKIE: cookie} if cookie else None
    return requests.post(meet["url"] + path, cookies=cookies, verify=meet["ca"],
                         allow_redirects=False, timeout=15, headers=API, **kw)


def browser_run(meet) -> dict:
    """The browser flow (python -m sovctl.probes.meet_browser) for the meet subject ``meet``
    and its result; Skipped when it cannot run here."""
    if not Path(CHROMIUM).exists():
        raise Skipped(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if not shutil.which("certutil"):
        raise Skipped("certutil is not installed (apt-get install libnss3-tools)")
    if len(meet["users"]) < 2 or not meet["users"][0][1]:
        raise Skipped("the inventory declares fewer than two keycloak_users with a password")
    home = meet["tmp"] / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "sovctl internal CA",
                    "-t", "C,,", "-i", meet["ca"]], check=True)
    artifacts = artifacts_dir()
    config = meet["tmp"] / "e2e.json"
    config.write_text(json.dumps({
        "chromium": CHROMIUM, "meet_url": meet["url"], "resolve": meet["names"],
        "addresses": meet["addresses"],
        "users": meet["users"], "artifacts_dir": str(artifacts.resolve()), "timeout_ms": 90000,
    }))
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache")}
    proc = subprocess.run([sys.executable, "-m", "sovctl.probes.meet_browser", str(config)],
                          env=env, capture_output=True, text=True, timeout=600)
    expect(proc.returncode == 0,
           f"the browser flow exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (artifacts / "meet-browser.json").write_text(json.dumps(result, indent=2))
    return result
