"""CPU time spent per request, by who spent it: the app server under test, the gateway sandbox,
PostgreSQL, Redis and the rest of the machine ('other': the load generator, whose CPU is read once
it has exited, the bench script, the kernel's work not charged to a process).

On a machine whose cores the run saturates, a throughput ratio is a ratio of CPU per request; this
says where each scenario's CPU goes, so a ratio can be explained (and a change's effect seen with
less noise than its throughput). Read from /proc (Linux): each process's user + system time, its
reaped children's included (a PostgreSQL backend that exits during the window is counted through
the postmaster), and the machine's busy time from /proc/stat."""

from __future__ import annotations

import os
from pathlib import Path

GROUPS = ("app", "sandbox", "postgres", "redis", "other")
PROC = Path("/proc")


def _group(cmdline: str, app_port: int) -> str | None:
    if "clearhouse-bench-sandbox" in cmdline:
        return "sandbox"
    if f"127.0.0.1:{app_port} " in f"{cmdline} ":  # the server the scenario runs on (bare, traced ...)
        return "app"
    name = cmdline.split(" ", 1)[0]
    if name.startswith("postgres") or name.endswith("/postgres"):
        return "postgres"
    if "redis-server" in name:
        return "redis"
    return None


def _machine_busy_ms(tick: int) -> float:
    """All cores' non-idle time since boot (user, nice, system, irq, softirq, steal)."""
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) * 1000 / tick


def snapshot(app_port: int) -> dict[str, float]:
    """Milliseconds of CPU by group so far: 'app' is the server bound to `app_port`; 'other' the
    machine's busy time no group accounts for (the other app servers, idle, among it)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(GROUPS, 0.0)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        group = _group(cmdline, app_port)
        if group is None:
            continue
        # After the command name in parentheses: state is field 3; utime, stime, cutime, cstime 14-17.
        fields = stat.rsplit(")", 1)[1].split()
        totals[group] += sum(int(value) for value in fields[11:15]) * 1000 / tick
    totals["other"] = _machine_busy_ms(tick) - sum(totals[g] for g in GROUPS if g != "other")
    return totals


def per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """CPU milliseconds per request by group between two snapshots, and their total (the machine's
    busy time: 'other' is what is left of it, so the groups add up to it)."""
    if requests <= 0:
        return {}
    spent = {group: round((after[group] - before[group]) / requests, 2) for group in GROUPS}
    spent["total"] = round(sum(after[g] - before[g] for g in GROUPS) / requests, 2)
    return spent
