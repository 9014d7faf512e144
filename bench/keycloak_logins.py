"""Benchmark: password logins per second per vCPU on a deployed Keycloak, as a morning peak
makes them: many distinct users logging in at the same time.

Not a test: run on demand against a converged deployment, by default the local sandbox:

    python bench/keycloak_logins.py [-i INVENTORY] [--workers 4] [--users 200]

The vault password is found as sovctl finds it (bench/target.py). The bench creates
--users users of its own in the realm (a random password for this run, never printed), logs
them in with --workers concurrent clients, each login a full browser-like authorization-code
flow with PKCE (login page, form post, code exchange) for a user no other client is logging
in at that moment, then deletes the users. Bounded: at most --seconds of load and
--max-logins logins. The inventory must define the check client `sovctl-check` (the
sandbox's does). Prints the measured rate per vCPU beside Keycloak's sizing guide (about 15
password logins per second per vCPU), and the reasons of any failed login.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import queue
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from target import use_inventory  # noqa: E402  (beside this file)

KEYCLOAK_GUIDE_PER_VCPU = 15  # Keycloak's sizing guide: password logins/s per vCPU


def create_users(host_name: str, realm: str, count: int, password: str) -> list[str]:
    from sovctl.probes.keycloak import admin

    run = secrets.token_hex(3)
    names = [f"bench-{run}-{i:04d}" for i in range(count)]
    for name in names:
        admin(host_name, "POST", f"/admin/realms/{realm}/users", {
            "username": name, "enabled": True, "email": f"{name}@bench.invalid",
            "emailVerified": True, "firstName": "Bench", "lastName": name,
            "credentials": [{"type": "password", "value": password, "temporary": False}]})
    return names


def delete_users(host_name: str, realm: str, names: list[str]) -> None:
    from sovctl.probes.keycloak import admin

    for name in names:
        _, found = admin(host_name, "GET",
                         f"/admin/realms/{realm}/users?exact=true&username={name}")
        for user in json.loads(found or "[]"):
            admin(host_name, "DELETE", f"/admin/realms/{realm}/users/{user['id']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory",
                        help="default: $SOVCTL_VERIFY_INVENTORY, else the sandbox")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-logins", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4, help="concurrent clients")
    parser.add_argument("--users", type=int, default=100,
                        help="distinct users (at least 2 per worker)")
    args = parser.parse_args()
    if args.users < 2 * args.workers:
        parser.error("--users must be at least twice --workers: a user logs in from one "
                     "client at a time, as people do")
    use_inventory(args.inventory)

    from sovctl.probes import context
    from sovctl.probes.keycloak import login

    host = context.hosts("identity")[0]
    ti = context.testinfra_host(host.name)
    address = context.address_of(host.name)
    vcpus = int(ti.check_output("nproc"))
    realm = host.vars.get("keycloak_realm", "sov")
    ca_path = "/tmp/sovctl-bench-ca.pem"  # noqa: S108 - a public CA certificate, not a secret
    with open(ca_path, "w") as fh:
        fh.write(ti.file("/etc/ssl/sovctl/ca.crt").content_string)
    base = context.resolve(host, "keycloak_hostname") or f"https://{address}"
    if "{{" in base:
        base = f"https://{address}"
    kc = {"issuer": f"{base}/realms/{realm}", "verify": ca_path}

    password = secrets.token_urlsafe(24)
    print(f"creating {args.users} users in realm {realm} on {host.name}...", flush=True)
    names = create_users(host.name, realm, args.users, password)
    idle: queue.Queue[str] = queue.Queue()
    for name in names:
        idle.put(name)
    errors: dict[str, int] = {}

    def one() -> bool:
        user = idle.get()  # a user nobody else is logging in right now
        try:
            token, error = login(kc, user, password)
        except Exception as exc:  # noqa: BLE001 - a benchmark counts every kind of failure
            token, error = None, f"{type(exc).__name__}: {exc}"
        finally:
            idle.put(user)
        if token is None:
            key = (error or "")[:160]
            errors[key] = errors.get(key, 0) + 1
        return token is not None

    ok = failed = 0
    try:
        start = time.monotonic()
        with cf.ThreadPoolExecutor(args.workers) as pool:
            pending: set = set()
            while time.monotonic() - start < args.seconds and ok + failed < args.max_logins:
                while len(pending) < args.workers:
                    pending.add(pool.submit(one))
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    ok, failed = (ok + 1, failed) if f.result() else (ok, failed + 1)
            for f in cf.as_completed(pending):
                ok, failed = (ok + 1, failed) if f.result() else (ok, failed + 1)
        elapsed = time.monotonic() - start
    finally:
        print("deleting the bench's users...", flush=True)
        delete_users(host.name, realm, names)
    rate = ok / elapsed
    print(f"host {host.name}: {vcpus} vCPU; {args.workers} concurrent clients, "
          f"{args.users} distinct users, {elapsed:.1f} s")
    print(f"logins: {ok} ok, {failed} failed")
    for message, count in sorted(errors.items(), key=lambda kv: -kv[1])[:3]:
        print(f"  {count} x {message}")
    print(f"measured: {rate:.1f} logins/s = {rate / vcpus:.1f} per vCPU")
    print(f"Keycloak sizing guide: ~{KEYCLOAK_GUIDE_PER_VCPU} per vCPU "
          f"(~{KEYCLOAK_GUIDE_PER_VCPU * vcpus} for {vcpus} vCPU)")
    print("note: load generator and server share this machine's cores; "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
