#!/usr/bin/env python3
"""Summarises a bench/compare.sh run: reads the mmgs-bench JSON reports of one results directory
(SERVER-{idle,chat,login}-RUN.json), takes medians over the runs, prints the side-by-side table
and, with --write FILE, replaces the text between the compare markers of FILE with it."""
import argparse
import glob
import json
import os
import re
import statistics
import sys

BEGIN = "<!-- compare:begin (written by bench/compare.sh; edits here are overwritten) -->"
END = "<!-- compare:end -->"
NAMES = {"mmgs": "MMGS", "mmgs-noleases": "MMGS, leases off", "mmgs-base": "MMGS baseline", "ejabberd": "ejabberd 23.01", "prosody": "Prosody 0.12"}


def load(directory):
    reports = {}
    for path in sorted(glob.glob(os.path.join(directory, "*-*-*.json"))):
        match = re.fullmatch(r"([\w-]+?)-(idle|chat|login)-(\d+)\.json", os.path.basename(path))
        if not match:
            continue
        with open(path) as handle:
            reports.setdefault(match[1], {}).setdefault(match[2], []).append((int(match[3]), json.load(handle)))
    for runs in reports.values():
        for kind in runs:
            runs[kind] = [report for _, report in sorted(runs[kind], key=lambda pair: pair[0])]
    return reports


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu(usage):
    return sum(t.get("cpu_percent") or 0 for t in usage.get("targets", []))


def summarise(runs):
    idle = runs.get("idle", [])
    chat = runs.get("chat", [])
    login = runs.get("login", [])
    summary = {
        "runs": max(len(idle), len(chat), len(login)),
        "idle_devices": median([r["idle"]["connected_at_end"] for r in idle if r.get("idle")]),
        # compare.sh starts the server afresh for every run, so every run's growth counts.
        "kib_per_device": median([((r.get("idle") or {}).get("total") or {}).get("rss_growth_per_device_kib") for r in idle]),
        "login_failures": sum((r.get("login") or {}).get("failed", 0) for r in idle),
        # A run that stopped at its first step sustained nothing: count it as 0.
        "max_chat": median([r["result"].get("max_sustained_rate") or 0 for r in chat]),
        "max_login": median([r["result"].get("max_sustained_rate") or 0 for r in login]),
        "chat_steps": {},
    }
    for report in chat:
        for step in report.get("steps", []):
            entry = summary["chat_steps"].setdefault(int(step["target_rate"]), {"p99": [], "cpu": [], "lost": [], "passed": []})
            entry["p99"].append((step.get("latency_ms") or {}).get("p99"))
            entry["cpu"].append(cpu(step["usage"]))
            entry["lost"].append(step.get("missing") or 0)
            entry["passed"].append(step.get("passed", False))
    return summary


def number(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def millis(value):
    """Milliseconds without the unit: two decimals below 10, whole numbers above."""
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def latency(value):
    if value is None:
        return "—"
    return f"{millis(value)} ms"


def spread(values):
    """`(low–high)` over the runs, so that a reader sees when two medians differ by less than the noise."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return f" ({millis(min(values))}–{millis(max(values))})"


def sustained(rate, runs):
    """The median sustained rate, or "< lowest step" when the first step already failed."""
    if rate:
        return number(rate)
    lowest = min((step["target_rate"] for report in runs or [] for step in report.get("steps", [])), default=None)
    return f"< {number(lowest)}" if lowest else "—"


def table(reports, command):
    servers = [s for s in ("mmgs", "mmgs-base", "mmgs-noleases", "ejabberd", "prosody") if s in reports] + sorted(set(reports) - set(NAMES))
    summaries = {s: summarise(reports[s]) for s in servers}
    header = "| | " + " | ".join(NAMES.get(s, s) for s in servers) + " |"
    rule = "|---" * (len(servers) + 1) + "|"
    warmups = {r.get("configuration", {}).get("warmup_seconds") or 0 for s in servers for r in reports[s].get("chat", [])}
    warmup = f" after {number(max(warmups))} s of unmeasured chat at the first rate" if max(warmups, default=0) > 0 else ""
    lines = [f"Command: `{command}`. Medians over {max(s['runs'] for s in summaries.values())} runs; "
             f"chat steps{warmup}, with a 100 ms p99 bound and no message lost.", "", header, rule]
    lines.append("| idle devices held | " + " | ".join(number(summaries[s]["idle_devices"]) for s in servers) + " |")
    lines.append("| memory per idle device (RSS growth of a fresh server, all its processes) | "
                 + " | ".join(f"{number(summaries[s]['kib_per_device'], 1)} KiB" for s in servers) + " |")
    lines.append("| **max chat rate sustained** (msgs/s) | " + " | ".join(f"**{sustained(summaries[s]['max_chat'], reports[s].get('chat'))}**" for s in servers) + " |")
    lines.append("| max login rate sustained (logins/s) | " + " | ".join(sustained(summaries[s]["max_login"], reports[s].get("login")) for s in servers) + " |")
    rates = sorted({rate for s in servers for rate in summaries[s]["chat_steps"]})
    for rate in rates:
        cells = []
        for s in servers:
            entry = summaries[s]["chat_steps"].get(rate)
            if not entry:
                cells.append("—")
                continue
            p99 = median(entry["p99"])
            lost = median(entry["lost"])
            mark = "" if all(entry["passed"]) else " ✗"
            cells.append(f"{latency(p99)}{spread(entry['p99'])}, CPU {number(median(entry['cpu']))} %{', lost ' + number(lost) if lost else ''}{mark}")
        lines.append(f"| chat p99 at {number(rate)} msgs/s (server CPU, 100 % = 1 core) | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("p99 cells: median (lowest–highest run). ✗: the step failed in at least one run (p99 over 100 ms or "
                 "messages missing); — : not reached.")
    return "\n".join(lines), summaries


def write(path, text):
    with open(path) as handle:
        document = handle.read()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in document and END in document:
        document = document[:document.index(BEGIN)] + block + document[document.index(END) + len(END):]
    else:
        document = document.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as handle:
        handle.write(document)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", help="a run/compare/<timestamp> directory")
    parser.add_argument("--write", metavar="FILE", help="replace the compare block of FILE (e.g. docs/performance.md)")
    parser.add_argument("--command", default="bench/compare.sh", help="the command line to quote above the table")
    args = parser.parse_args()
    reports = load(args.results)
    if not reports:
        sys.exit(f"compare_report.py: no mmgs-bench reports in {args.results}")
    text, _ = table(reports, args.command)
    print(text)
    if args.write:
        write(args.write, text)
        print(f"written to {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
