"""Benchmark: password logins per second per vCPU on a deployed Keycloak.

Not a test: run on demand against a converged identity host, e.g. after
`molecule converge -s keycloak`:

    MOLECULE_INVENTORY_FILE=~/.ansible/tmp/molecule.*.keycloak/inventory/ansible_inventory.yml \\
    ANSIBLE_VAULT_PASSWORD_FILE=molecule/keycloak/.vault-pass python bench/keycloak_logins.py

or with `SOVCTL_VERIFY_INVENTORY=inventories/prod` (the inventory must define the
check client `sovctl-check` and a test user). Each login is a full browser-like
authorization-code flow with PKCE (login page, form post, code exchange), as
users produce them. Bounded: at most --seconds of load and --max-logins logins.
Prints the measured rate beside Keycloak's own sizing guide (about 15 password
logins per second per vCPU).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import time

KEYCLOAK_GUIDE_PER_VCPU = 15  # Keycloak's sizing guide: password logins/s per vCPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-logins", type=int, default=2000)
    # One user logging in from several clients at once trips Keycloak's login protections
    # (failures seen here with 2+); use more workers only with a user per worker.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--user", default="alice")
    args = parser.parse_args()

    from sovctl.checks import context
    from sovctl.checks.keycloak import login

    host = context.hosts("identity")[0]
    ti = context.testinfra_host(host.name)
    address = context.address_of(host.name)
    vcpus = int(ti.check_output("nproc"))
    ca_path = "/tmp/sovctl-bench-ca.pem"  # noqa: S108 - a public CA certificate, not a secret
    with open(ca_path, "w") as fh:
        fh.write(ti.file("/etc/ssl/sovctl/ca.crt").content_string)
    base = context.resolve(host, "keycloak_hostname") or f"https://{address}"
    if "{{" in base:
        base = f"https://{address}"
    kc = {"issuer": f"{base}/realms/{host.vars.get('keycloak_realm', 'sov')}",
          "verify": ca_path}
    password = context.resolve(host, "vault_sandbox_user_password")

    errors: dict[str, int] = {}

    def one() -> bool:
        try:
            token, error = login(kc, args.user, password)
        except Exception as exc:  # noqa: BLE001 - a benchmark counts every kind of failure
            token, error = None, f"{type(exc).__name__}: {exc}"
        if token is None:
            key = (error or "")[:160]
            errors[key] = errors.get(key, 0) + 1
        return token is not None

    ok = failed = 0
    start = time.monotonic()
    with cf.ThreadPoolExecutor(args.workers) as pool:
        pending = set()
        while time.monotonic() - start < args.seconds and ok + failed < args.max_logins:
            while len(pending) < args.workers * 2:
                pending.add(pool.submit(one))
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for f in done:
                ok, failed = (ok + 1, failed) if f.result() else (ok, failed + 1)
        for f in cf.as_completed(pending):
            ok, failed = (ok + 1, failed) if f.result() else (ok, failed + 1)
    elapsed = time.monotonic() - start
    rate = ok / elapsed
    print(f"host {host.name}: {vcpus} vCPU, {args.workers} concurrent clients, {elapsed:.1f} s")
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
