"""Benchmark: TURN relay load with turnutils_uclient, sovctl's coturn config versus Debian's.

Not a test: run on demand against converged hosts, e.g. the sandbox after `make sandbox`:

    python bench/turn_load.py                       # the sandbox
    python bench/turn_load.py --clients 40 --messages 500 --rounds 3
    SOVCTL_VERIFY_INVENTORY=inventories/prod python bench/turn_load.py --allow-public-target

Two profiles on the same TURN host, alternating per round:

- sovctl: the configuration the coturn role deployed (its turnserver.conf and its
  systemd drop-in: file-descriptor limit, sandboxing, restart policy);
- debian-default: Debian's packaged coturn as it runs out of the box (the stock
  unit, no drop-in) with only what the same clients need to be served: the
  listening port, the realm, the REST-API secret and the peer it may relay to.
  Everything else is coturn's built-in default.

The load: --clients relayed UDP sessions at once (turnutils_uclient, one process per
ten clients, each with its own REST-API user so the per-user quota is not what is
measured), each sending --messages messages of --length bytes every 20 ms to
turnutils_peer on a relay peer (the first conferencing host, which the relay is
allowed to reach), which echoes them back. Per run it prints messages sent and
echoed, loss, mean round trip and jitter as uclient reports them, and the CPU seconds
and peak memory of the turnserver process. Figures are printed, never asserted.

The TURN host's configuration is saved before and put back afterwards, also on
failure or Ctrl-C; turnutils are installed on the client host for the run and
removed again when they were not there before (--keep leaves them).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from target import use_inventory  # noqa: E402  (beside this file)

PEER_PORT = 3480
SAVE = "/var/lib/sovctl-bench/coturn"
DROPIN = "/etc/systemd/system/coturn.service.d"
LOGS = "/var/lib/sovctl-bench/uclient"


def credentials(secret: str, user: str, ttl: int = 3600) -> tuple[str, str]:
    name = f"{int(time.time()) + ttl}:{user}"
    digest = hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest()
    return name, base64.b64encode(digest).decode()


def debian_default_conf(realm: str, secret: str, port: int, peer: str) -> str:
    return (f"# sovctl bench: Debian's coturn defaults plus what the clients need\n"
            f"listening-port={port}\nrealm={realm}\nuse-auth-secret\n"
            f"static-auth-secret={secret}\nallowed-peer-ip={peer}\n")


def proc_figures(turn) -> tuple[float, int]:
    """CPU seconds (user+system) and peak resident memory (kB) of turnserver."""
    pid = turn.check_output("systemctl show -p MainPID --value coturn").strip()
    if pid in ("", "0"):
        return 0.0, 0
    stat = turn.check_output(f"cat /proc/{pid}/stat").rsplit(")", 1)[1].split()
    ticks = int(turn.check_output("getconf CLK_TCK"))
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    hwm = re.search(r"VmHWM:\s+(\d+)", turn.check_output(f"cat /proc/{pid}/status"))
    return cpu, int(hwm.group(1)) if hwm else 0


def load(client, turn_addr: str, peer: str, secret: str, args) -> dict:
    procs = []
    # One REST-API user per batch: coturn_user_quota (12) caps allocations per user, and
    # turnutils_uclient takes more than one allocation per client.
    batch = 5
    client.run_test(f"rm -rf {LOGS} && install -d -m 0700 {LOGS}")
    for i in range(0, args.clients, batch):
        n = min(batch, args.clients - i)
        user, pw = credentials(secret, f"bench{i // batch}")
        log = f"{LOGS}/uclient-{i // batch}.log"
        procs.append(log)
        client.run(f"nohup timeout {args.timeout} turnutils_uclient -m {n} -n {args.messages} "
                   f"-l {args.length} -e {peer} -r {PEER_PORT} -c -u '{user}' -w '{pw}' "
                   f"{turn_addr} >{log} 2>&1 &")
    deadline = time.monotonic() + args.timeout + 10
    while time.monotonic() < deadline:
        if client.run("pgrep -f '[t]urnutils_uclient -m'").rc != 0:
            break
        time.sleep(1)
    sent = received = lost = 0
    rtts, jitters = [], []
    errors: set[str] = set()
    for log in procs:
        out = client.run(f"cat {log}").stdout
        errors.update(re.findall(r"error (\d+ \([^)]*\))", out))
        tot = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
        if tot:
            sent += int(tot[-1][0])
            received += int(tot[-1][1])
        m = re.search(r"Total lost packets (\d+)", out)
        lost += int(m.group(1)) if m else 0
        m = re.search(r"Average round trip delay ([\d.]+) ms", out)
        if m:
            rtts.append(float(m.group(1)))
        m = re.search(r"Average jitter ([\d.]+) ms", out)
        if m:
            jitters.append(float(m.group(1)))
    return {"sent": sent, "received": received, "lost": lost,
            "rtt": statistics.mean(rtts) if rtts else float("nan"),
            "jitter": statistics.mean(jitters) if jitters else float("nan"),
            "errors": ", ".join(sorted(errors))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory",
                        help="default: $SOVCTL_VERIFY_INVENTORY, else the sandbox")
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--length", type=int, default=1000, help="bytes per message")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per load run")
    parser.add_argument("--keep", action="store_true", help="leave turnutils on the client")
    parser.add_argument("--allow-public-target", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 1 <= args.messages <= 5000:
        parser.error("bounded: 1-200 clients, 1-5000 messages")
    use_inventory(args.inventory)

    from sovctl.probes import context

    turns, peers = context.hosts("turn"), context.hosts("conferencing")
    if not turns or not peers:
        sys.exit("the inventory needs a host in group 'turn' and one in 'conferencing'")
    turn_host, peer_host = turns[0], peers[0]
    turn_addr, peer = context.address_of(turn_host.name), context.address_of(peer_host.name)
    if not args.allow_public_target and not context.is_private(turn_addr):
        sys.exit(f"{turn_addr} is public: pass --allow-public-target for a server you run")
    secret = (context.resolve(turn_host, "coturn_static_auth_secret")
              or context.resolve(turn_host, "vault_coturn_static_auth_secret"))
    realm = context.resolve(turn_host, "coturn_realm") or turn_host.vars.get("sov_domain")
    port = int(turn_host.vars.get("coturn_listening_port", 3478))
    if not secret or not realm or "{{" in str(realm):
        sys.exit(f"cannot read coturn's secret or realm for {turn_host.name} from the inventory")
    turn = context.testinfra_host(turn_host.name)
    client = context.testinfra_host(peer_host.name)

    had = client.run("command -v turnutils_uclient").rc == 0
    if not had:
        client.run_test("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn "
                        ">/dev/null && systemctl disable --now coturn")
    turn.run_test(f"rm -rf {SAVE} && mkdir -p {SAVE} && cp -a /etc/turnserver.conf {SAVE}/ "
                  f"&& if [ -d {DROPIN} ]; then cp -a {DROPIN} {SAVE}/dropin; fi")
    print(f"TURN {turn_host.name} ({turn_addr}), clients and peer on {peer_host.name} ({peer}); "
          f"{args.clients} clients x {args.messages} messages x {args.length} B")

    def use(profile: str) -> None:
        if profile == "sovctl":
            turn.run_test(f"cp -a {SAVE}/turnserver.conf /etc/turnserver.conf && "
                          f"rm -rf {DROPIN} && if [ -d {SAVE}/dropin ]; then "
                          f"cp -a {SAVE}/dropin {DROPIN}; fi")
        else:
            conf = debian_default_conf(realm, secret, port, peer)
            turn.run_test(f"rm -rf {DROPIN} && umask 027 && cat > /etc/turnserver.conf <<'EOF'\n"
                          f"{conf}EOF\nchgrp turnserver /etc/turnserver.conf || true")
        turn.run_test("systemctl daemon-reload && systemctl restart coturn")
        for _ in range(30):
            if turn.run(f"ss -Hlun 'sport = :{port}' | grep -q .").rc == 0:
                return
            time.sleep(1)
        raise SystemExit(f"coturn did not listen on {port} with the {profile} profile")

    # The peer host's firewall (roles/firewall) drops the echo port: let the relay's
    # datagrams in from the TURN host for the run, and take the rule out afterwards.
    hole = (f"ip saddr {turn_addr} udp dport {PEER_PORT} accept comment \"sovctl-bench\"")
    firewalled = client.run("nft list table inet sovctl").rc == 0
    rows = []
    try:
        if firewalled:
            client.run_test(f"nft insert rule inet sovctl input {hole}")
        client.run("pkill -f '[t]urnutils_peer' || true")
        client.run(f"nohup turnutils_peer -L {peer} -p {PEER_PORT} >/dev/null 2>&1 &")
        for _ in range(args.rounds):
            for profile in ("sovctl", "debian-default"):
                use(profile)
                cpu0, _ = proc_figures(turn)
                start = time.monotonic()
                res = load(client, turn_addr, peer, secret, args)
                seconds = time.monotonic() - start
                cpu1, hwm = proc_figures(turn)
                res.update(profile=profile, seconds=seconds, cpu=cpu1 - cpu0, hwm=hwm)
                rows.append(res)
                loss = 100.0 * (1 - res["received"] / res["sent"]) if res["sent"] else 100.0
                print(f"  {profile:<15} sent {res['sent']:>7} echoed {res['received']:>7} "
                      f"loss {loss:5.2f}%  rtt {res['rtt']:7.2f} ms  jitter "
                      f"{res['jitter']:6.2f} ms  turnserver CPU {res['cpu']:6.2f} s  "
                      f"peak RSS {res['hwm'] / 1024:6.1f} MiB  ({seconds:.0f} s)"
                      + (f"  TURN errors: {res['errors']}" if res["errors"] else ""), flush=True)
    finally:
        client.run(f"pkill -f '[t]urnutils_peer' || true; rm -rf {LOGS}")
        if firewalled:
            client.run("for h in $(nft -a list chain inet sovctl input | "
                       "sed -n 's/.*sovctl-bench.*# handle \\([0-9]*\\)$/\\1/p'); do "
                       "nft delete rule inet sovctl input handle $h; done")
        use("sovctl")
        turn.run(f"rm -rf {SAVE}")
        if not had and not args.keep:
            client.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq coturn >/dev/null")
        print("coturn's deployed configuration is back in place.")

    print("\nprofile          rounds  echoed/sent  mean rtt ms  CPU s per 1000 msgs  "
          "relayed pkts/s per core")
    for profile in ("sovctl", "debian-default"):
        mine = [r for r in rows if r["profile"] == profile]
        sent = sum(r["sent"] for r in mine)
        got = sum(r["received"] for r in mine)
        rtt = statistics.mean(r["rtt"] for r in mine) if mine else float("nan")
        cpu_s = sum(r["cpu"] for r in mine)
        cpu = cpu_s / (got / 1000) if got else float("nan")
        print(f"{profile:<16} {len(mine):>6}  {got:>6}/{sent:<6}  {rtt:10.2f}  {cpu:10.3f}  "
              f"{relayed_per_core(got, cpu_s):>22.0f}")
    print(f"{'coturn (published)':<16} {'':>6}  {'':>13}  {'':>10}  {'':>10}  "
          f"{'126000-242000':>22}")
    print("relayed pkts/s per core: every echoed message crosses the relay twice (to the peer "
          "and back), per second of turnserver CPU; coturn's own notes give 126k to 242k "
          "packets/s per relay thread (with --udp-recvmmsg --udp-sendmmsg)")


def relayed_per_core(echoed: int, cpu_seconds: float) -> float:
    """Relayed packets per second of one busy core: each echoed message is relayed twice."""
    return 2 * echoed / cpu_seconds if cpu_seconds > 0 else float("nan")


if __name__ == "__main__":
    main()
