"""Benchmark (not a test): load on a LiveKit test host, beside LiveKit's published figures.

Puts simulated publishers and subscribers in one room of a conferencing host of an
inventory (by default the molecule `livekit` scenario's, after `molecule converge -s
livekit`), through the nginx edge like real clients, and prints publishers,
subscribers, the SFU's CPU (LiveKit's own process_cpu_seconds_total, read on the
host) and packet loss, beside LiveKit's published benchmark (REFERENCES.md).

Engines:
  lk   `lk load-test` (livekit-cli): $SOVCTL_LK, `lk` on PATH, or built once from the
       Go module proxy into ~/.cache/sovctl/bench/ (`go install
       github.com/livekit/livekit-cli/v2/cmd/lk@VERSION`). Its packet loss is lk's own
       summary. (Caveats: recent livekit-cli needs CGO and ALSA headers, and its sample
       videos are Git LFS files that module zips do not carry; the build machines'
       module proxy refuses livekit-cli altogether.)
  sdk  LiveKit's Python SDK (the test extras): publishers send synthetic video and
       audio, subscribers receive without decoding; packet loss from the subscribers'
       inbound RTP statistics. Encoding happens on this machine, so it simulates far
       fewer publishers than lk per client CPU.
  auto lk when it can be had, else sdk (and says why).

Bounded: at most 50 publishers and 50 subscribers, at most 10 minutes, and only
against loopback or private addresses (the project's test hosts) unless
--allow-public-target is given for a server you run yourself.

    python bench/livekit_load.py [-i INVENTORY] [--host NAME] [--publishers 2]
        [--subscribers 4] [--duration 30] [--engine auto|lk|sdk]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import ipaddress
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LK_MODULE = "github.com/livekit/livekit-cli/v2/cmd/lk"
LK_VERSION = os.environ.get("SOVCTL_LK_VERSION", "v2.15.0")
CACHE = Path(os.environ.get("SOVCTL_CACHE_DIR") or Path.home() / ".cache" / "sovctl") / "bench"
MAX_PARTICIPANTS = 50
MAX_SECONDS = 600
# LiveKit's published benchmark (docs.livekit.io, self-hosting/benchmark; 16 vCPU):
# (label, publishers, subscribers, share of the 16 vCPU used, vCPUs).
PUBLISHED = [
    ("LiveKit, 16 vCPU: 720p video room", 150, 150, 0.85, 16),
    ("LiveKit, 16 vCPU: livestream", 1, 3000, 0.92, 16),
]


def tracks_per_core(publishers: int, subscribers: int, cores_busy: float) -> float:
    """Forwarded video tracks per busy core: every subscriber receives every publisher's
    video track (lk load-test and the SDK engine both subscribe to all of them)."""
    return publishers * subscribers / cores_busy if cores_busy > 0 else float("nan")


# ---------------------------------------------------------------- the target

def find_inventory(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob(str(Path.home() / ".ansible/tmp/molecule.*.livekit/inventory"
                                 / "ansible_inventory.yml")), key=os.path.getmtime)
    if not found:
        raise SystemExit("no inventory: pass -i, or run `molecule converge -s livekit` first")
    vault = ROOT / "molecule" / "livekit" / ".vault-pass"
    if vault.is_file():
        os.environ.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(vault))
    return Path(found[-1])


def target(inventory: Path, host: str | None, allow_public: bool) -> dict:
    os.environ["SOVCTL_VERIFY_INVENTORY"] = str(inventory.resolve())
    from sovctl.probes import context

    names = [h.name for h in context.hosts("conferencing")]
    if not names:
        raise SystemExit(f"{inventory}: no host in group 'conferencing'")
    name = host or names[0]
    inv_host = context.inventory().hosts[name]
    edges = [h.name for h in context.hosts("edge")]
    edge = name if name in edges or not edges else edges[0]
    hostname = context.resolve(inv_host, "livekit_hostname") or ""
    address = context.address_of(edge)
    if not hostname or "{{" in hostname:
        hostname = address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if not allow_public and (ip is None or not (ip.is_private or ip.is_loopback)):
        raise SystemExit(f"{name} is at {address}: not a test host on a private address "
                         "(use --allow-public-target only against your own server)")
    return {
        "name": name, "edge": edge, "url": f"wss://{hostname}",
        "key": str(context.resolve(inv_host, "livekit_api_key")
                   or context.resolve(inv_host, "vault_livekit_api_key")),
        "secret": str(context.resolve(inv_host, "livekit_api_secret")
                      or context.resolve(inv_host, "vault_livekit_api_secret")),
        "prometheus_port": int(inv_host.vars.get("livekit_prometheus_port", 6789)),
        "host": context.testinfra_host(name),
        "edge_host": context.testinfra_host(edge),
    }


def trust_internal_ca(tgt: dict) -> str | None:
    ca = tgt["edge_host"].run("cat /etc/ssl/sovctl/ca.crt")
    if ca.rc != 0 or "BEGIN CERTIFICATE" not in ca.stdout:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as fh:
        fh.write(ca.stdout)
    os.environ["SSL_CERT_FILE"] = fh.name  # rustls (SDK) and Go (lk) read it
    return fh.name


def sfu_cpu_seconds(tgt: dict) -> tuple[float, int]:
    """LiveKit's process CPU seconds (from its own metrics, on the host) and the host's CPUs."""
    out = tgt["host"].check_output(
        "nproc; python3 -c \"import urllib.request;print(urllib.request.urlopen("
        f"'http://127.0.0.1:{tgt['prometheus_port']}/metrics', timeout=5).read().decode())\"")
    cpus, _, metrics = out.partition("\n")
    match = re.search(r"^process_cpu_seconds_total\s+([0-9.eE+]+)$", metrics, re.M)
    if not match:
        raise SystemExit("LiveKit's metrics have no process_cpu_seconds_total")
    return float(match.group(1)), int(cpus)


# ---------------------------------------------------------------- engine: lk load-test

def find_lk(log=print) -> tuple[str | None, str]:
    explicit = os.environ.get("SOVCTL_LK")
    if explicit:
        return explicit, "SOVCTL_LK"
    on_path = shutil.which("lk")
    if on_path:
        return on_path, "PATH"
    cached = CACHE / f"lk-{LK_VERSION}" / "lk"
    if cached.is_file():
        return str(cached), "cache"
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file()
                                else None)
    if not go:
        return None, "no `lk` and no Go toolchain to build it"
    log(f"building lk {LK_VERSION} from the Go module proxy into {cached.parent} ...")
    cached.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(cached.parent), GOFLAGS="-buildvcs=false")
    proc = subprocess.run([go, "install", f"{LK_MODULE}@{LK_VERSION}"], env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0 or not cached.is_file():
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = " ".join(lines[-2:]) if lines else "go install failed"
        return None, f"cannot build lk {LK_VERSION}: {reason}"
    return str(cached), "built"


def run_lk(lk: str, tgt: dict, args) -> dict:
    cmd = [lk, "load-test", "--url", tgt["url"], "--api-key", tgt["key"],
           "--api-secret", tgt["secret"], "--room", f"bench-{int(time.time())}",
           "--video-publishers", str(args.publishers), "--subscribers", str(args.subscribers),
           "--duration", f"{args.duration}s", "--video-resolution", args.lk_resolution]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"lk load-test failed ({proc.returncode}):\n{out[-3000:]}")
    loss = None
    for line in out.splitlines():
        if re.search(r"\bTotal\b", line):
            match = re.search(r"\(\s*([0-9.]+)\s*%\s*\)", line)
            if match:
                loss = float(match.group(1))
    return {"loss_pct": loss, "detail": out[-2500:]}


# ---------------------------------------------------------------- engine: Python SDK

async def _publisher(url: str, token: str, width: int, height: int, fps: int,
                     stop: asyncio.Event) -> None:
    from livekit import rtc

    from sovctl.probes import livekit_client

    room = rtc.Room()
    await room.connect(url, token, rtc.RoomOptions(auto_subscribe=False, connect_timeout=15))
    try:
        video, audio = await livekit_client.publish_camera_and_microphone(
            room.local_participant, width, height, "bench")
        # A 400 Hz tone (4 whole periods per 10 ms frame), not silence: Opus would send
        # almost nothing for silence (DTX) and the audio load would vanish.
        tone = rtc.AudioFrame.create(48000, 1, 480)
        for i in range(480):
            tone.data[i] = int(6000 * math.sin(2 * math.pi * 400 * i / 48000))
        # A few precomputed frames, cycled: the client's CPU goes to encoding, not Python.
        frames = [bytes([shade, 128, 255 - shade, 255]) * (width * height)
                  for shade in range(0, 256, 32)]

        async def audio_loop():
            while not stop.is_set():
                await audio.capture_frame(tone)

        task = asyncio.ensure_future(audio_loop())
        n = 0
        while not stop.is_set():
            n += 1
            video.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA,
                                               frames[n % len(frames)]))
            await asyncio.sleep(1 / fps)
        task.cancel()
    finally:
        await room.disconnect()


async def _subscriber(url: str, token: str, stop: asyncio.Event, results: list) -> None:
    from livekit import rtc

    room = rtc.Room()
    await room.connect(url, token, rtc.RoomOptions(auto_subscribe=True, connect_timeout=15))
    try:
        await stop.wait()
        stats = await room.get_rtc_stats()
        received = lost = 0
        for s in list(stats.subscriber_stats) + list(stats.publisher_stats):
            if s.WhichOneof("stats") == "inbound_rtp":
                received += s.inbound_rtp.received.packets_received
                lost += max(s.inbound_rtp.received.packets_lost, 0)
        results.append((received, lost))
    finally:
        await room.disconnect()


async def _run_sdk(tgt: dict, args) -> dict:
    from livekit import api

    room = f"bench-{int(time.time())}"

    def token(identity: str) -> str:
        return (api.AccessToken(tgt["key"], tgt["secret"]).with_identity(identity)
                .with_grants(api.VideoGrants(room_join=True, room=room)).to_jwt())

    stop = asyncio.Event()
    results: list = []
    tasks = [asyncio.ensure_future(_subscriber(tgt["url"], token(f"sub-{i}"), stop, results))
             for i in range(args.subscribers)]
    await asyncio.sleep(1)
    tasks += [asyncio.ensure_future(_publisher(tgt["url"], token(f"pub-{i}"), args.width,
                                               args.height, args.fps, stop))
              for i in range(args.publishers)]
    await asyncio.sleep(args.duration)
    stop.set()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(e) for e in done if isinstance(e, BaseException)]
    received = sum(r for r, _ in results)
    lost = sum(lo for _, lo in results)
    return {"loss_pct": 100.0 * lost / (received + lost) if received + lost else None,
            "detail": f"{received} RTP packets received, {lost} lost, by {len(results)} "
                      f"subscribers" + (f"; errors: {errors[:3]}" if errors else "")}


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--inventory", help="inventory (default: molecule's livekit one)")
    parser.add_argument("--host", help="conferencing host (default: the first)")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--duration", type=int, default=30, help="seconds")
    parser.add_argument("--engine", choices=["auto", "lk", "sdk"], default="auto")
    parser.add_argument("--lk-resolution", choices=["low", "medium", "high"], default="medium")
    parser.add_argument("--width", type=int, default=640, help="sdk engine video width")
    parser.add_argument("--height", type=int, default=360, help="sdk engine video height")
    parser.add_argument("--fps", type=int, default=15, help="sdk engine frames per second")
    parser.add_argument("--allow-public-target", action="store_true")
    args = parser.parse_args(argv)
    if not (0 <= args.publishers <= MAX_PARTICIPANTS and 0 < args.subscribers <= MAX_PARTICIPANTS
            and 0 < args.duration <= MAX_SECONDS):
        parser.error(f"at most {MAX_PARTICIPANTS} publishers and subscribers, {MAX_SECONDS} s")

    tgt = target(find_inventory(args.inventory), args.host, args.allow_public_target)
    ca_file = trust_internal_ca(tgt)
    engine, why = args.engine, "requested"
    lk = None
    if engine in ("auto", "lk"):
        lk, how = find_lk(log=lambda m: print(m, file=sys.stderr))
        if lk is None:
            if engine == "lk":
                raise SystemExit(f"lk is not available: {how}")
            engine, why = "sdk", f"lk unavailable ({how})"
        else:
            engine, why = "lk", f"lk from {how}"
    try:
        cpu0, cpus = sfu_cpu_seconds(tgt)
        wall0 = time.monotonic()
        result = (run_lk(lk, tgt, args) if engine == "lk"
                  else asyncio.run(_run_sdk(tgt, args)))
        cpu1, _ = sfu_cpu_seconds(tgt)
        wall = time.monotonic() - wall0
    finally:
        if ca_file:
            with contextlib.suppress(OSError):
                os.unlink(ca_file)
    core_pct = 100.0 * (cpu1 - cpu0) / wall
    host_pct = core_pct / cpus
    mine = tracks_per_core(args.publishers, args.subscribers, core_pct / 100.0)
    loss = "n/a" if result["loss_pct"] is None else f"{result['loss_pct']:.2f}%"
    print(f"\nLiveKit load on {tgt['name']} ({tgt['url']}), engine {engine} ({why}), "
          f"{args.duration} s")
    print(f"{'run':<40} {'publishers':>10} {'subscribers':>11} {'SFU CPU':>16} {'loss':>8} "
          f"{'video tracks/core':>18}")
    print(f"{'this run (' + str(cpus) + ' CPUs on the host)':<40} {args.publishers:>10} "
          f"{args.subscribers:>11} {f'{host_pct:.1f}% ({core_pct:.0f}% of 1)':>16} {loss:>8} "
          f"{mine:>18.0f}")
    for label, pubs, subs, share, vcpus in PUBLISHED:
        print(f"{label:<40} {pubs:>10} {subs:>11} {f'{share:.0%} of {vcpus}':>16} {'n/a':>8} "
              f"{tracks_per_core(pubs, subs, share * vcpus):>18.0f}")
    print("video tracks/core: publishers x subscribers forwarded per busy SFU core (the "
          "published rooms are far larger: per-track costs fall as rooms grow)")
    print(f"\n{result['detail']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
