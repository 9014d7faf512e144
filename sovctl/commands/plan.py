"""``sovctl plan``: how many servers, how big, how much bandwidth, for N users."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from sovctl import plan as sizing
from sovctl.inventory import load_inventory

_DEFAULTS = sizing.Assumptions(users=1)


def _assumptions(users, peak_share, meeting_mix, video_share, turn_share, recorded_share,
                 login_share, login_window, headroom, media_node_vcpus):
    a = sizing.Assumptions(users=users, peak_share=peak_share,
                           meeting_mix=sizing.parse_mix(meeting_mix), video_share=video_share,
                           turn_share=turn_share, recorded_share=recorded_share,
                           login_share=login_share, login_window_min=login_window,
                           headroom=headroom, media_node_vcpus=media_node_vcpus)
    a.check()
    return a


def _table(a: sizing.Assumptions, roles: list[sizing.RolePlan]) -> list[str]:
    mix = ", ".join(f"{share:.0%} in meetings of {size}" for size, share in a.meeting_mix)
    lines = [f"Plan for {a.users:,} users: {a.users * a.peak_share:,.0f} in meetings at the peak "
             f"({a.peak_share:.0%}; {mix}), {a.video_share:.0%} with video, "
             f"{a.turn_share:.0%} relayed by TURN, {a.recorded_share:.0%} of meetings "
             f"recorded, {a.login_share:.0%} signing in within {a.login_window_min:g} min.",
             "",
             f"{'ROLE':<10} {'GROUP':<13} {'NODES':>5} {'vCPUs':>7} {'MEMORY':>8} "
             f"{'BANDWIDTH':>11} {'HEADROOM':>8}"]
    for r in roles:
        lines.append(f"{r.role:<10} {r.group:<13} {r.nodes:>5} {r.vcpus:>7.1f} "
                     f"{r.memory_gb:>6.1f} GB {r.bandwidth_gbit_s:>6.2f} Gbit/s "
                     f"{r.headroom:>8.0%}")
    lines.append("")
    for r in roles:
        for note in r.notes:
            lines.append(f"  {r.role}: {note}")
    lines.append("")
    lines.append("Sources:")
    lines += [f"  {r.role}: {' '.join(r.source.split())}" for r in roles]
    return lines


@click.command("plan")
@click.option("--users", type=int, help="Users of the site (default with -i: find how many "
              "the inventory carries; without -i: required).")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="Compare this inventory's hosts (sov_vcpus, sov_memory_gb) with the plan.")
@click.option("--peak-share", type=float, default=_DEFAULTS.peak_share, show_default=True,
              help="Share of users in a meeting at the busiest moment.")
@click.option("--meeting-mix", default=",".join(f"{s}:{p:g}" for s, p in _DEFAULTS.meeting_mix),
              show_default=True, help="SIZE:SHARE,...: share of those participants in "
              "meetings of each size.")
@click.option("--video-share", type=float, default=_DEFAULTS.video_share, show_default=True,
              help="Share of participants with their camera on.")
@click.option("--turn-share", type=float, default=_DEFAULTS.turn_share, show_default=True,
              help="Share of participants whose media a TURN relay carries.")
@click.option("--recorded-share", type=float, default=_DEFAULTS.recorded_share,
              show_default=True, help="Share of meetings recorded.")
@click.option("--login-share", type=float, default=_DEFAULTS.login_share, show_default=True,
              help="Share of users signing in during the morning peak.")
@click.option("--login-window", type=float, default=_DEFAULTS.login_window_min,
              show_default=True, help="Length of the morning peak, in minutes.")
@click.option("--headroom", type=float, default=_DEFAULTS.headroom, show_default=True,
              help="Spare capacity on media and relays (Keycloak uses its guide's 150%).")
@click.option("--media-node-vcpus", type=int, default=_DEFAULTS.media_node_vcpus,
              show_default=True, help="vCPUs of one LiveKit node.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def command(users, inventory, fmt, **options):
    """Size a deployment: nodes, vCPUs, memory and bandwidth per role for N users.

    Every figure comes from a published source or a named assumption (sovctl/data/sizing.yml,
    docs/sizing.md). With -i, says whether the inventory's declared hosts (host variables
    sov_vcpus and sov_memory_gb) are enough, what is short, and for how many users they
    are enough. Exits 1 when the inventory is short for --users.

    \b
    Examples:
      sovctl plan --users 200000
      sovctl plan --users 200000 --video-share 0.3 --format json
      sovctl plan -i inventories/prod
    """
    if users is None and inventory is None:
        raise click.UsageError("give --users N, or -i INVENTORY to find how many it carries")
    a = _assumptions(users or 1, **options)
    result: dict = {"assumptions": {**asdict(a), "meeting_mix": [list(m) for m in
                                                                 a.meeting_mix]}}
    lines: list[str] = []
    rc = 0
    if users:
        roles = sizing.plan(a)
        result["roles"] = [asdict(r) for r in roles]
        lines += _table(a, roles)
    if inventory is not None:
        inv = load_inventory(inventory)
        sizes = sizing.host_sizes(inv)
        avail = sizing.available(sizes)
        undeclared = [h.name for h in sizes if h.vcpus is None or h.memory_gb is None]
        carries = sizing.capacity(a, avail)
        short = sizing.shortfalls(a, avail) if users else []
        absent = [role for role, have in avail.items() if not have["hosts"]
                  and not (role == "recorder" and a.recorded_share == 0)]
        result["inventory"] = {"path": str(inventory), "hosts": [asdict(h) for h in sizes],
                               "undeclared": undeclared, "carries_users": carries,
                               "short": short, "roles_without_hosts": absent}
        header = (f"Inventory {inventory} (a host of several roles counts once, its size "
                  "split equally among them):")
        lines += ["", header] if lines else [header]
        for role, have in avail.items():
            if have["hosts"]:
                lines.append(f"  {role:<10} {have['hosts']} host(s), {have['vcpus']:.1f} vCPUs, "
                             f"{have['memory_gb']:.1f} GB")
        for name in undeclared:
            lines.append(f"  {name}: size not declared: set sov_vcpus and sov_memory_gb "
                         "in its host variables")
        for role in absent:
            lines.append(f"  {role}: no host in group '{sizing.GROUPS[role]}' "
                         f"(the plan needs one)")
        if users:
            lines.append(f"  enough for {users:,} users: " + ("yes" if not short else "NO"))
            lines += [f"    short: {s}" for s in short]
            rc = 1 if short else 0
        lines.append(f"  carries at most {carries:,} users with these assumptions "
                     "(recording left out where no recorder host exists)")
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo("\n".join(lines))
    raise SystemExit(rc)
