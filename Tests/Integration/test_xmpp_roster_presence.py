"""Rosters (RFC 6121 §2: get, set, pushes to every resource, remove) and the presence
subscription handshake (§3) between devices on different front-ends and routers, with the
presence that follows from it (§4: broadcast, probes at initial presence, unavailable)."""

from __future__ import annotations

import asyncio

from conftest import XMPPDevices, device_ids, run_async, stanza_error


async def push_for(device, jid: str, what: str, timeout: float = 10.0) -> dict:
    """The next roster push about `jid` (pushes about other items are skipped)."""
    skipped = []
    while True:
        items = await device.next_push(timeout=timeout, what=f"{what} (skipped: {skipped})")
        if jid in items:
            return items[jid]
        skipped.append(items)


def is_presence(kind: str | None, sender: str):
    """Matcher: presence of `kind` (None: available) whose from is `sender` (full JID, or bare:
    any resource of it)."""
    def match(pres):
        frm = str(pres["from"])
        same = frm == sender or ("/" not in sender and frm.split("/", 1)[0] == sender)
        ptype = pres.xml.get("type")
        return same and ptype == kind
    return match


def test_roster_set_get_push_remove(xmpp_cluster):
    c = xmpp_cluster
    owner = c.add_device("roster-owner", "pw")
    contact = f"carol@{c.domain}"

    async def scenario():
        async with XMPPDevices() as xs:
            r1 = await xs.login(f"{owner}/one", "pw", c.xmpp_port("frontend-1"))
            r2 = await xs.login(f"{owner}/two", "pw", c.xmpp_port("frontend-2"))
            assert await r1.roster() == {}

            answer = await r1.roster_set(contact, name="Carol", groups=["Friends", "Work"])
            assert answer["type"] == "result", str(answer)
            expected = {"name": "Carol", "subscription": "none", "ask": None, "groups": ["Friends", "Work"]}
            for r in (r1, r2):
                assert await push_for(r, contact, f"the push of the new item to {r.full}") == expected
            assert (await r2.roster()).get(contact) == expected

            # Update: new name, one group.
            await r2.roster_set(contact, name="Carol C.", groups=["Work"])
            expected = {"name": "Carol C.", "subscription": "none", "ask": None, "groups": ["Work"]}
            for r in (r1, r2):
                assert await push_for(r, contact, f"the push of the update to {r.full}") == expected
            assert (await r1.roster()).get(contact) == expected

            # A full JID or duplicate groups: bad-request.
            for jid, groups in ((f"{contact}/res", []), (contact, ["A", "A"])):
                try:
                    await r1.roster_set(jid, name="x", groups=groups)
                    raise AssertionError(f"roster set of {jid} {groups} succeeded")
                except Exception as error:
                    iq = getattr(error, "iq", None)
                    assert iq is not None and stanza_error(iq) == "bad-request", f"{jid} {groups}: {error!r}"

            # Remove: result, push with subscription='remove' to every resource, gone from get.
            answer = await r1.roster_set(contact, subscription="remove")
            assert answer["type"] == "result", str(answer)
            for r in (r1, r2):
                assert (await push_for(r, contact, f"the removal push to {r.full}"))["subscription"] == "remove"
            assert contact not in await r2.roster()

            # Removing it again: item-not-found.
            try:
                await r1.roster_set(contact, subscription="remove")
                raise AssertionError("removing an absent item succeeded")
            except Exception as error:
                iq = getattr(error, "iq", None)
                assert iq is not None and stanza_error(iq) == "item-not-found", repr(error)

    run_async(scenario(), 40)


def test_subscription_handshake_and_presence(xmpp_cluster):
    c = xmpp_cluster
    alice, bob = [c.add_device(d, "pw") for d in device_ids(c, "sub-")]

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            b = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))

            # A asks (§3.1.1): A's item for B becomes none + ask=subscribe; B gets the request.
            a.c.send_presence(pto=bob, ptype="subscribe")
            item = await push_for(a, bob, "A's push after subscribe")
            assert item["subscription"] == "none" and item["ask"] == "subscribe", item
            request = await b.next_presence(is_presence("subscribe", alice), what="the subscription request")
            assert str(request["from"]) == alice, f"a subscription request comes from the bare JID: {request['from']}"

            # B approves (§3.1.5): B's item 'from', A's item 'to'; A sees B's presence.
            b.c.send_presence(pto=alice, ptype="subscribed")
            item = await push_for(b, alice, "B's push after approving")
            assert item["subscription"] == "from", item
            item = await push_for(a, bob, "A's push after the approval")
            assert item["subscription"] == "to" and item["ask"] is None, item
            await a.next_presence(is_presence("subscribed", bob), what="the approval")
            await a.next_presence(is_presence(None, b.full), what="B's available presence after the approval")
            assert (await a.roster())[bob]["subscription"] == "to"
            assert (await b.roster())[alice]["subscription"] == "from"

            # Mutual: B subscribes, A approves → 'both' on each side.
            b.c.send_presence(pto=alice, ptype="subscribe")
            await a.next_presence(is_presence("subscribe", bob), what="B's subscription request")
            a.c.send_presence(pto=bob, ptype="subscribed")
            for d, other in ((a, bob), (b, alice)):
                state = None
                while state != "both":
                    state = (await push_for(d, other, f"{d.label}'s push towards 'both' (last: {state})"))["subscription"]
            await b.next_presence(is_presence(None, a.full), what="A's available presence after the approval")
            assert (await a.roster())[bob] == {"name": None, "subscription": "both", "ask": None, "groups": []}
            assert (await b.roster())[alice]["subscription"] == "both"

            # Presence broadcast: A changes its status, B sees it.
            a.c.send_presence(pstatus="in a meeting", pshow="dnd")
            pres = await b.next_presence(is_presence(None, a.full), what="A's new presence")
            assert pres["status"] == "in a meeting" and pres["show"] == "dnd", str(pres)

            # A new resource of A, on the other front-end: its initial presence probes B (it gets
            # B's presence) and is broadcast to B.
            a2 = await xs.login(f"{alice}/laptop", "pw", c.xmpp_port("frontend-2"))
            await a2.next_presence(is_presence(None, b.full), what="B's presence answering the probe")
            await b.next_presence(is_presence(None, a2.full), what="the new resource's presence")

            # B goes away: every available resource of A sees it unavailable.
            await b.close()
            for d in (a, a2):
                await d.next_presence(is_presence("unavailable", b.full), what="B's unavailable presence")

            # B comes back: A sees it available again, B gets A's resources through its probe.
            b2 = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-1"))
            for d in (a, a2):
                await d.next_presence(is_presence(None, b2.full), what="B's presence after it came back")
            seen = set()
            while seen != {a.full, a2.full}:
                pres = await b2.next_presence(lambda p: p.xml.get("type") is None and str(p["from"]).startswith(alice + "/"),
                                              what=f"A's resources' presence after B's probe (seen {sorted(seen)})")
                seen.add(str(pres["from"]))

            # Unsubscribe (§3.3): A stops following B → A 'from', B 'to'.
            a.c.send_presence(pto=bob, ptype="unsubscribe")
            assert (await push_for(a, bob, "A's push after unsubscribe"))["subscription"] == "from"
            assert (await push_for(b2, alice, "B's push after A's unsubscribe"))["subscription"] == "to"

            # Cancel (§3.2): A revokes B's subscription → 'none' on both sides, and B gets
            # unavailable presence from every available resource of A.
            a.c.send_presence(pto=bob, ptype="unsubscribed")
            assert (await push_for(a, bob, "A's push after unsubscribed"))["subscription"] == "none"
            assert (await push_for(b2, alice, "B's push after A's unsubscribed"))["subscription"] == "none"
            seen = set()
            while seen != {a.full, a2.full}:
                pres = await b2.next_presence(is_presence("unavailable", alice),
                                              what=f"unavailable from A's resources after the cancel (seen {sorted(seen)})")
                seen.add(str(pres["from"]))
            # No subscription left: A's presence no longer reaches B.
            a.c.send_presence(pstatus="after the cancel")
            a.send_chat(b2.full, "marker")  # same stream as the presence: routed after it
            while (await b2.next_message(what="the marker"))["body"] != "marker":
                pass
            leaked = [str(p) for p in b2.drain_presences() if str(p["from"]).startswith(alice)]
            assert not leaked, f"presence after the cancel: {leaked}"

    run_async(scenario(), 60)


def test_ungraceful_disconnect_and_disable_send_unavailable_to_contacts(xmpp_cluster):
    """RFC 6121 §4.5.2/§4.6: when a subscribed device's session ends without unavailable presence
    (its TCP connection dropped, or the device disabled by the operator), its contacts get
    unavailable presence from the server on its behalf."""
    c = xmpp_cluster
    alice, bob = [c.add_device(d, "pw") for d in device_ids(c, "gone-")]
    bob_id = bob.split("@", 1)[0]

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            b = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))
            for x, y in ((a, b), (b, a)):
                x.c.send_presence(pto=y.bare, ptype="subscribe")
                await y.next_presence(is_presence("subscribe", x.bare), what="a subscription request")
                y.c.send_presence(pto=x.bare, ptype="subscribed")
                await x.next_presence(is_presence(None, y.full), what="presence after the approval")

            # The TCP connection drops (no </stream:stream>, no unavailable presence).
            b.c.abort()
            await a.next_presence(is_presence("unavailable", b.full), what="unavailable after B's connection dropped")

            # Back, then disabled by the operator while logged in.
            b2 = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-1"))
            await a.next_presence(is_presence(None, b2.full), what="B's presence after it came back")
            await asyncio.to_thread(c.device_ok, "disable", bob_id)
            await b2.wait_gone()
            await a.next_presence(is_presence("unavailable", b2.full), timeout=5, what="unavailable after B was disabled")

    run_async(scenario(), 40)


def test_pending_subscription_request_waits_for_an_answer(xmpp_cluster):
    """RFC 6121 §3.1.3: a subscription request to a device without available resources is kept
    and delivered when it next has one, until it approves or denies it."""
    c = xmpp_cluster
    alice, bob = [c.add_device(d, "pw") for d in device_ids(c, "pending-")]

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            a.c.send_presence(pto=bob, ptype="subscribe")
            item = await push_for(a, bob, "A's push after subscribe")
            assert item["subscription"] == "none" and item["ask"] == "subscribe", item

            # B's first login: the request is delivered.
            b = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))
            await b.next_presence(is_presence("subscribe", alice), what="the kept subscription request at the first login")
            await b.close()

            # B did not answer: its next login gets the request again.
            b2 = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))
            await b2.next_presence(is_presence("subscribe", alice), timeout=3,
                                   what="the unanswered subscription request at the second login")
            b2.c.send_presence(pto=alice, ptype="subscribed")
            item = await push_for(a, bob, "A's push after the approval")
            assert item["subscription"] == "to", item
            await b2.close()

            # Answered: not delivered any more.
            b3 = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))
            await b3.roster()
            stale = [str(p) for p in b3.drain_presences() if p.xml.get("type") == "subscribe"]
            assert not stale, f"an answered subscription request delivered again: {stale}"

    run_async(scenario(), 40)
