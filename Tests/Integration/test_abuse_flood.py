"""One device floods 100,000 chat stanzas as fast as its socket takes them while 100 other
devices chat: the flooder's front-end reads it only as fast as it can handle (back-pressure, not
buffering: its memory stays bounded), nothing is dropped, and the other devices' latency stays
close to what it is without the flood.

The cluster (2 managers, 2 front-ends, 2 routers; no transports, they play no part here) allows
2,500 stanzas/s per stream (the default is 200/s; raised so that 100,000 stanzas take 40 s, not
8 minutes): the stanza rate is what keeps one device from taking a whole front-end. At a rate
above what the front-end can handle at all (about 5,800 stanzas/s for this debug build), a
flooder delivered on the same front-end takes the loops' CPU and the others' p99 rose to
165 ms even with the per-turn budget (C2SHandler.stanzasPerTurn); that is a configuration
that lets one device have the box, and operations.md says so. The flooder is on
frontend-1; the receiving device is on frontend-2 or on frontend-1 (one case each). The 100
chatters are 50 pairs, each pair split over the two front-ends."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from abuse_support import RawXMPP, body_of, is_message, limits_cluster, message_xml, process_alive, rss_kib
from conftest import report, run_async

FLOOD = 100_000
CHATTERS = 100
CHAT_PERIOD = 0.2  # s between two messages of one chatter
BASELINE_SECONDS = 8.0
# Measured: frontend-1 grows by about 1 MiB during the flood (37.5 -> 38.7 MiB, debug build); before
# the fix it read the whole flood ahead and grew by about 71 MiB (release build). 32 MiB: ample
# headroom over the first, well under the second.
RSS_HEADROOM_MIB = 32
LATENCY_ALLOWANCE = 0.050  # s, see the latency assertion
LATE_GRACE = 60.0  # s after a phase for its last chat messages


@pytest.fixture
def flood_cluster(tmp_path, ports):
    c = limits_cluster(tmp_path, ports, {"stanza_rate": 2500, "stanza_burst": 2500}, allow_plain=True,
                       managers=2, frontends=2, routers=2, transports=0)
    try:
        c.device_ok("import", "--prefix", "chat", "--count", str(CHATTERS), "--first", "0", "--password", "pw")
        c.add_device("flooder", "pw")
        c.add_device("sink", "pw")
        yield c
    finally:
        c.stop_all()


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@pytest.mark.parametrize("sink_frontend", ["frontend-2", "frontend-1"], ids=["sink-on-other-frontend", "sink-on-same-frontend"])
def test_flood_is_slowed_not_buffered_and_does_not_hurt_others(flood_cluster, sink_frontend):
    """Guards back-pressure and fairness (before: the front-end read the flood ahead, +71 MiB): RSS, no loss, chatters' p99."""
    c = flood_cluster
    p = {name: c.xmpp_port(name) for name in ("frontend-1", "frontend-2")}
    fe_pid = c.nodes["frontend-1"].pid
    phase = {"name": None}
    latency = {"baseline": [], "flood": []}
    sent = {"baseline": 0, "flood": 0}
    seen: set = set()
    duplicates = {"count": 0}
    arrived = {"count": 0, "out_of_order": 0, "last": -1, "errors": 0}
    rss = {"start": 0, "peak": 0, "samples": 0}
    timing = {}

    def at_chatter(element):
        if not is_message(element):
            return False
        parts = (body_of(element) or "").split()
        if len(parts) == 4 and parts[0] == "lat" and element.get("type") != "error":
            if parts[2] in seen:
                duplicates["count"] += 1
            else:
                seen.add(parts[2])
                latency[parts[1]].append(time.perf_counter() - float(parts[3]))
        return True

    def at_sink(element):
        if not is_message(element):
            return False
        seq = int((body_of(element) or "f-1")[1:])
        arrived["out_of_order"] += seq != arrived["last"] + 1
        arrived["last"] = seq
        arrived["count"] += 1
        return True

    def at_flooder(element):
        if is_message(element) and element.get("type") == "error":
            arrived["errors"] += 1
            return True
        return False

    async def scenario():
        chatters: list[RawXMPP] = []
        streams: list[RawXMPP] = []
        try:
            for first in range(0, CHATTERS, 20):
                batch = [RawXMPP(p[f"frontend-{i % 2 + 1}"], label=f"chat{i}") for i in range(first, first + 20)]
                streams += batch
                await asyncio.gather(*(x.login(f"chat{first + k}", "pw", "r") for k, x in enumerate(batch)))
                chatters += batch
            for x in chatters:
                x.on_stanza = at_chatter
            stop = asyncio.Event()

            async def chat(i: int, x: RawXMPP):
                partner = f"chat{i ^ 1}@{c.domain}/r"
                await asyncio.sleep(random.random() * CHAT_PERIOD)
                n = 0
                while not stop.is_set():
                    name = phase["name"]
                    if name:
                        x.send(message_xml(partner, f"lat {name} {i}.{n} {time.perf_counter()!r}"))
                        sent[name] += 1
                        n += 1
                    await asyncio.sleep(CHAT_PERIOD)

            async def settle(name: str):
                """Waits (bounded) for the phase's last chat messages."""
                deadline = time.monotonic() + LATE_GRACE
                while len(latency[name]) < sent[name] and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)

            talking = [asyncio.ensure_future(chat(i, x)) for i, x in enumerate(chatters)]
            try:
                # Baseline: the same chat, no flood.
                phase["name"] = "baseline"
                await asyncio.sleep(BASELINE_SECONDS)
                phase["name"] = None
                await settle("baseline")

                flooder = await RawXMPP(p["frontend-1"], label="flooder").login("flooder", "pw", "f")
                sink = await RawXMPP(p[sink_frontend], label="sink").login("sink", "pw", "s")
                streams += [flooder, sink]
                sink.on_stanza = at_sink
                flooder.on_stanza = at_flooder
                rss["start"] = rss["peak"] = rss_kib(fe_pid)
                flooding = asyncio.Event()

                async def sample_rss():
                    while flooding.is_set():
                        rss["peak"] = max(rss["peak"], rss_kib(fe_pid))
                        rss["samples"] += 1
                        await asyncio.sleep(0.1)

                to = f"sink@{c.domain}/s"
                flooding.set()
                sampler = asyncio.ensure_future(sample_rss())
                phase["name"] = "flood"
                started = time.monotonic()
                # As fast as the socket takes them: drain() waits only while the kernel's buffers
                # are full, i.e. while the front-end does not read.
                for first in range(0, FLOOD, 500):
                    flooder.send("".join(message_xml(to, f"f{n}") for n in range(first, min(FLOOD, first + 500))))
                    await asyncio.wait_for(flooder.writer.drain(), 120)
                timing["written"] = time.monotonic() - started
                deadline = started + 300
                while arrived["count"] + arrived["errors"] < FLOOD and time.monotonic() < deadline:
                    assert not sink.closed.is_set() and not flooder.closed.is_set(), (
                        f"a stream was closed during the flood (sink {sink.closed.is_set()}, flooder {flooder.closed.is_set()}): "
                        f"{sink.kept()} {flooder.kept()}")
                    await asyncio.sleep(0.1)
                timing["delivered"] = time.monotonic() - started
                phase["name"] = None
                flooding.clear()
                await sampler
                await settle("flood")
                # The flooder was slowed, not dropped: its stream still answers.
                assert (await flooder.roster_get()).get("type") == "result", "the flooder's stream no longer answers"
                closed = [x.label for x in chatters if x.closed.is_set()]
                assert not closed, f"chatters' streams closed: {closed}"
            finally:
                stop.set()
                await asyncio.gather(*talking)
        finally:
            await asyncio.gather(*(s.close(0.5) for s in streams), return_exceptions=True)

    run_async(scenario(), 480)

    base50, base99 = percentile(latency["baseline"], 0.5), percentile(latency["baseline"], 0.99)
    flood50, flood99 = percentile(latency["flood"], 0.5), percentile(latency["flood"], 0.99)
    slow = sum(1 for v in latency["flood"] if v > 1.0)
    # 2 x baseline, or baseline + 50 ms if that is more: on this 2-core box the flood's work
    # (parsing and routing 1,000s of stanzas/s with debug binaries) runs on the same two CPUs as
    # the chatters' streams, so even a fair front-end delays them by a scheduling quantum or so.
    latency_bound = max(2 * base99, base99 + LATENCY_ALLOWANCE)
    rss_bound = rss["start"] + RSS_HEADROOM_MIB * 1024
    missing = {name: sent[name] - len(latency[name]) for name in sent}
    where = f"abuse flood ({sink_frontend} receives)"
    report(f"{where}: {FLOOD} messages from frontend-1, written in {timing['written']:.1f} s, delivered in "
           f"{timing['delivered']:.1f} s ({FLOOD / timing['delivered']:.0f}/s): {arrived['count']} arrived, "
           f"{arrived['errors']} errors, {arrived['out_of_order']} out of order")
    report(f"{where}: frontend-1 RSS {rss['start'] / 1024:.1f} MiB at the start, peak {rss['peak'] / 1024:.1f} MiB over "
           f"{rss['samples']} samples; bound {rss_bound / 1024:.1f} MiB (start + {RSS_HEADROOM_MIB} MiB)")
    report(f"{where}: {CHATTERS} chatters every {CHAT_PERIOD * 1000:.0f} ms, latency p50/p99 baseline "
           f"{base50 * 1000:.1f}/{base99 * 1000:.1f} ms ({len(latency['baseline'])} messages), during the flood "
           f"{flood50 * 1000:.1f}/{flood99 * 1000:.1f} ms (max {max(latency['flood'], default=0) * 1000:.0f} ms, "
           f"{slow} over 1 s, {len(latency['flood'])} messages); p99 bound {latency_bound * 1000:.1f} ms; not arrived "
           f"{LATE_GRACE:.0f} s after their phase: {missing['baseline']} baseline, {missing['flood']} flood; "
           f"{duplicates['count']} duplicates")

    assert arrived["count"] + arrived["errors"] == FLOOD, (
        f"{FLOOD - arrived['count'] - arrived['errors']} flood messages vanished: {arrived['count']} arrived, {arrived['errors']} errors")
    assert arrived["out_of_order"] == 0, f"{arrived['out_of_order']} flood messages arrived out of order"
    assert missing == {"baseline": 0, "flood": 0} and duplicates["count"] == 0, (
        f"chat messages not arrived {LATE_GRACE:.0f} s after their phase: {missing} (of {sent}); duplicates: {duplicates['count']}")
    assert rss["peak"] <= rss_bound, (
        f"frontend-1 grew from {rss['start'] / 1024:.1f} to {rss['peak'] / 1024:.1f} MiB during the flood (bound {rss_bound / 1024:.1f} MiB)")
    assert flood99 <= latency_bound, (
        f"the chatters' p99 latency went from {base99 * 1000:.1f} ms to {flood99 * 1000:.1f} ms with the flood "
        f"(bound {latency_bound * 1000:.1f} ms)")
    for name in ("frontend-1", "frontend-2", "router-1", "router-2"):
        ok, text = process_alive(c, name)
        assert ok, text
