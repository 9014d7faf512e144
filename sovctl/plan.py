"""Sizing a deployment: nodes, vCPUs, memory and bandwidth per role for N users.

The model (docs/sizing.md) is arithmetic on named assumptions (``Assumptions``) and on
published figures with their sources (``sovctl/data/sizing.yml``). ``plan`` sizes a site
for a number of users; ``capacity`` finds how many users an inventory's declared hosts
(``sov_vcpus``, ``sov_memory_gb``) carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import yaml

from sovctl.errors import InputError

SIZING = Path(__file__).resolve().parent / "data" / "sizing.yml"
# The inventory group whose hosts carry each role of the plan.
GROUPS = {"livekit": "conferencing", "turn": "turn", "keycloak": "identity",
          "meet": "meet", "recorder": "recorder"}


@dataclass(frozen=True)
class Assumptions:
    users: int
    peak_share: float = 0.10       # users in a meeting at the busiest moment
    # (meeting size, share of the peak's participants in meetings of that size)
    meeting_mix: tuple[tuple[int, float], ...] = ((2, 0.3), (5, 0.4), (15, 0.2), (50, 0.1))
    video_share: float = 0.5       # participants with their camera on
    turn_share: float = 0.2        # participants whose media a TURN relay carries
    recorded_share: float = 0.02   # meetings recorded
    login_share: float = 1.0       # users who sign in during the morning peak
    login_window_min: float = 30.0
    headroom: float = 0.5          # spare capacity on media and relays (Keycloak: its own)
    media_node_vcpus: int = 16     # vCPUs of a LiveKit node (LiveKit's benchmark machine)

    def check(self) -> None:
        """InputError naming the option when an assumption is out of range."""
        def bad(option, message):
            raise InputError(message, field=option)
        if self.users < 1:
            bad("--users", "must be at least 1")
        for option, value in (("--peak-share", self.peak_share),
                              ("--video-share", self.video_share),
                              ("--turn-share", self.turn_share),
                              ("--recorded-share", self.recorded_share),
                              ("--login-share", self.login_share)):
            if not 0 <= value <= 1:
                bad(option, f"a share between 0 and 1, not {value}")
        if not self.meeting_mix or any(size < 2 or share < 0
                                       for size, share in self.meeting_mix):
            bad("--meeting-mix", "sizes of 2 or more with non-negative shares")
        if abs(sum(share for _, share in self.meeting_mix) - 1) > 0.001:
            bad("--meeting-mix", "the shares must add up to 1")
        if self.login_window_min <= 0 or self.headroom < 0 or self.media_node_vcpus < 1:
            bad("--login-window/--headroom/--media-node-vcpus", "must be positive")


def parse_mix(text: str) -> tuple[tuple[int, float], ...]:
    """``"2:0.3,5:0.4,15:0.2,50:0.1"`` -> ((2, 0.3), ...); InputError when malformed."""
    try:
        mix = tuple((int(size), float(share)) for size, share in
                    (part.split(":") for part in text.split(",") if part.strip()))
    except ValueError:
        raise InputError(f"not SIZE:SHARE,... : {text!r}", field="--meeting-mix",
                         hint='e.g. "2:0.3,5:0.4,15:0.2,50:0.1"') from None
    return mix


@cache
def figures() -> dict:
    return yaml.safe_load(SIZING.read_text(encoding="utf-8"))


@dataclass
class RolePlan:
    role: str
    group: str
    nodes: int
    vcpus: float
    memory_gb: float
    bandwidth_gbit_s: float
    headroom: float
    source: str
    notes: list[str] = field(default_factory=list)


def _per_participant(a: Assumptions, size: int, lk: dict) -> tuple[float, float]:
    """(kbit/s sent by the SFU to one participant, kbit/s received from one participant)
    in a meeting of ``size``."""
    tiles = min(lk["max_tiles"], (size - 1) * a.video_share)
    layer = next(rate for limit, rate in sorted(lk["stream_kbit_s"].items())
                 if math.ceil(tiles) <= limit) if tiles else 0
    down = tiles * layer + (size - 1) * lk["audio_kbit_s"]
    up = a.video_share * lk["publish_kbit_s"] + lk["audio_kbit_s"]
    return down, up


def forwarded_per_vcpu() -> float:
    """Mbit/s the SFU forwards per vCPU at full load, from LiveKit's benchmark."""
    lk = figures()["livekit"]
    return lk["benchmark_out_mbit_s"] / (lk["benchmark_vcpus"] * lk["benchmark_cpu"])


def plan(a: Assumptions) -> list[RolePlan]:
    """Every role's needs at the peak of ``a.users`` users."""
    a.check()
    f = figures()
    lk, turn, kc, rec, meet = (f[k] for k in ("livekit", "turn", "keycloak", "recorder",
                                              "meet"))
    participants = a.users * a.peak_share
    out_kbit = in_kbit = meetings = 0.0
    for size, share in a.meeting_mix:
        down, up = _per_participant(a, size, lk)
        out_kbit += participants * share * down
        in_kbit += participants * share * up
        meetings += participants * share / size
    per_vcpu = forwarded_per_vcpu()
    grow = 1 + a.headroom

    lk_vcpus = out_kbit / 1000 / per_vcpu * grow
    nic = lk["nic_gbit_s"] * lk["nic_usable"] * 1000
    lk_nodes = max(1, math.ceil(lk_vcpus / a.media_node_vcpus - 1e-9),
                   math.ceil((out_kbit + in_kbit) / 1000 / nic - 1e-9))
    largest = max(size for size, share in a.meeting_mix if share > 0)
    largest_vcpus = largest * _per_participant(a, largest, lk)[0] / 1000 / per_vcpu * grow
    lk_notes = [f"the largest meeting ({largest} participants) needs "
                f"{largest_vcpus:.1f} vCPUs of one node"]
    if largest_vcpus > a.media_node_vcpus:
        lk_notes.append(f"it does NOT fit on one {a.media_node_vcpus}-vCPU node: "
                        "one room must fit on one node")
    if lk_nodes < 2:
        lk_notes.append("a second node keeps meetings going when one fails")
    roles = [RolePlan("livekit", GROUPS["livekit"], lk_nodes, lk_vcpus,
                      lk_nodes * lk["memory_gb_per_node"], (out_kbit + in_kbit) / 1e6,
                      a.headroom, lk["source"], lk_notes)]

    relayed = participants * a.turn_share
    relay_kbit = (out_kbit + in_kbit) / participants * relayed if participants else 0.0
    packets = relay_kbit * 1000 / 8 / turn["packet_bytes"]
    turn_vcpus = packets / turn["packets_per_vcpu_s"] * grow
    turn_nodes = max(turn["min_nodes"], math.ceil(turn_vcpus / turn["node_vcpus"] - 1e-9))
    # A relay receives each byte and sends it on: its network carries the media twice.
    roles.append(RolePlan("turn", GROUPS["turn"], turn_nodes, turn_vcpus,
                          turn_nodes * turn["memory_gb_per_node"], 2 * relay_kbit / 1e6,
                          a.headroom, turn["source"],
                          [f"{relayed:.0f} participants relayed at the peak"]))

    logins = a.users * a.login_share / (a.login_window_min * 60)
    kc_vcpus = logins / kc["logins_per_vcpu_s"] * (1 + kc["headroom"])
    kc_nodes = max(kc["min_nodes"], math.ceil(kc_vcpus / kc["node_vcpus"] - 1e-9))
    roles.append(RolePlan("keycloak", GROUPS["keycloak"], kc_nodes, kc_vcpus,
                          kc_nodes * kc["memory_gb_per_node"], 0.0, kc["headroom"],
                          kc["source"], [f"{logins:.1f} password logins per second at the "
                                         f"morning peak"]))

    recordings = meetings * a.recorded_share
    rec_vcpus = recordings * rec["vcpus_per_recording"] / rec["cpu_limit"]
    rec_nodes = math.ceil(rec_vcpus / rec["node_vcpus"] - 1e-9) if recordings else 0
    roles.append(RolePlan("recorder", GROUPS["recorder"], rec_nodes, rec_vcpus,
                          max(rec_nodes * rec["min_node_memory_gb"],
                              recordings * rec["memory_gb_per_recording"]),
                          recordings * lk["publish_kbit_s"] / 1e6, 0.0, rec["source"],
                          [f"{recordings:.0f} recordings at once "
                           f"(of {meetings:.0f} meetings)"]))

    roles.append(RolePlan("meet", GROUPS["meet"], meet["nodes"],
                          float(meet["nodes"] * meet["node_vcpus"]),
                          float(meet["nodes"] * meet["memory_gb_per_node"]), 0.0, 0.0,
                          meet["source"]))
    return roles


# ------------------------------------------------------------------ an inventory's hosts

@dataclass
class HostSize:
    name: str
    vcpus: int | None
    memory_gb: float | None
    roles: list[str]


# Host variables a host may declare its size with, and the site's planned users.
SIZE_VARS = ("sov_vcpus", "sov_memory_gb")


def size_problem(var: str, value) -> str | None:
    """Why ``value`` is no valid ``var`` (a size, or sov_planned_users), else None."""
    if value is None:
        return None
    whole = var == "sov_planned_users"
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        return f"must be a positive {'whole ' if whole else ''}number, not {value!r}"
    return None


def host_sizes(inv) -> list[HostSize]:
    """The hosts of ``inv`` that carry a planned role, with their declared size."""
    sizes = []
    for host in inv.hosts.values():
        roles = [role for role, group in GROUPS.items() if group in host.groups]
        if not roles:
            continue
        for var in SIZE_VARS:
            problem = size_problem(var, host.vars.get(var))
            if problem:
                raise InputError(problem, field=f"{var} (host {host.name})",
                                 hint=f"declare the host's size, e.g. {var}: 8")
        sizes.append(HostSize(host.name, host.vars.get("sov_vcpus"),
                              host.vars.get("sov_memory_gb"), roles))
    return sizes


def available(sizes: list[HostSize]) -> dict[str, dict[str, float]]:
    """vCPUs, memory and largest single-host share per role; a host's size is shared
    equally among the planned roles it carries."""
    out = {role: {"vcpus": 0.0, "memory_gb": 0.0, "largest_vcpus": 0.0, "hosts": 0}
           for role in GROUPS}
    for h in sizes:
        for role in h.roles:
            share = 1 / len(h.roles)
            out[role]["vcpus"] += (h.vcpus or 0) * share
            out[role]["memory_gb"] += (h.memory_gb or 0) * share
            out[role]["largest_vcpus"] = max(out[role]["largest_vcpus"], (h.vcpus or 0) * share)
            out[role]["hosts"] += 1
    return out


def shortfalls(a: Assumptions, avail: dict[str, dict[str, float]]) -> list[str]:
    """What the inventory lacks for ``a`` (roles without hosts are left out)."""
    short = []
    for need in plan(a):
        have = avail[need.role]
        if not have["hosts"]:
            continue
        if need.vcpus > have["vcpus"] + 1e-9:
            short.append(f"{need.role}: {need.vcpus:.1f} vCPUs needed, "
                         f"{have['vcpus']:.1f} declared")
        if need.memory_gb > have["memory_gb"] + 1e-9:
            short.append(f"{need.role}: {need.memory_gb:.1f} GB of memory needed, "
                         f"{have['memory_gb']:.1f} declared")
    return short


def capacity(a: Assumptions, avail: dict[str, dict[str, float]], limit: int = 10_000_000
             ) -> int:
    """The most users (with ``a``'s other assumptions) the declared hosts carry: 0 when
    not even one."""
    def fits(users: int) -> bool:
        return not shortfalls(_with_users(a, users), avail)
    if not fits(1):
        return 0
    low, high = 1, limit
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def _with_users(a: Assumptions, users: int) -> Assumptions:
    return replace(a, users=users)
