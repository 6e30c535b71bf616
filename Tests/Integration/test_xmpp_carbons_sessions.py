"""Message Carbons (XEP-0280) between real streams on both front-ends, and sessions that must
not outlive their streams (issue 11, items 6 and 8)."""

from __future__ import annotations

import asyncio
import time

from abuse_support import BIND, CLIENT, RawXMPP, body_of, limits_cluster, stanza_error
from conftest import device_ids, run_async

CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


def carbon(element, direction: str):
    """(the forwarded message, the wrapper) when `element` is a `direction` carbon, else None."""
    if element.tag != f"{{{CLIENT}}}message":
        return None
    wrapper = element.find(f"{{{CARBONS}}}{direction}")
    if wrapper is None:
        return None
    inner = wrapper.find(f"{{{FORWARD}}}forwarded/{{{CLIENT}}}message")
    assert inner is not None, f"a {direction} carbon without a forwarded jabber:client message"
    return inner


def plain_message(element, text: str | None = None) -> bool:
    return (element.tag == f"{{{CLIENT}}}message" and element.find(f"{{{CARBONS}}}received") is None
            and element.find(f"{{{CARBONS}}}sent") is None and (text is None or body_of(element) == text))


async def nothing_but_marker(device: RawXMPP, sender: RawXMPP, what: str) -> list[str]:
    """Everything `device` received before a marker that `sender` (one stream: routed after what
    it sent before) sends to `device`'s full JID: proves a negative without sleeping. The marker
    is a headline, which carbons leave alone, so it makes no copies of its own."""
    marker = f"marker {time.monotonic_ns()}"
    sender.chat(device.jid, marker, mtype="headline")
    await device.wait_for(lambda e: plain_message(e, marker), what=f"the marker after {what}")
    seen = [body_of(e) or e.tag for e in device.inbox if e.tag == f"{{{CLIENT}}}message"]
    device.inbox.clear()
    return seen


async def enable_carbons(device: RawXMPP, enable: bool = True):
    ident = device.next_id("carbons")
    device.send(f"<iq type='set' id='{ident}'><{'enable' if enable else 'disable'} xmlns='{CARBONS}'/></iq>")
    answer = await device.wait_for(lambda e: e.get("id") == ident, what="the carbons answer")
    assert answer.get("type") == "result", f"carbons {'enable' if enable else 'disable'}: {answer.attrib}"


def test_message_carbons_received_sent_private_and_disable(xmpp_cluster):
    """Stock clients enable carbons at login; before, every one showed 'service-unavailable'."""
    c = xmpp_cluster
    alice_id, bob_id = device_ids(c, "carbons-", 2)
    alice, bob = c.add_device(alice_id, "pw"), c.add_device(bob_id, "pw")
    fe1, fe2 = c.xmpp_port("frontend-1"), c.xmpp_port("frontend-2")

    async def scenario():
        streams = []
        try:
            phone = await RawXMPP(fe1, label="phone").connect()
            laptop = await RawXMPP(fe2, label="laptop").connect()
            tablet = await RawXMPP(fe1, label="tablet").connect()
            other = await RawXMPP(fe2, label="bob").connect()
            streams += [phone, laptop, tablet, other]
            await phone.login(alice_id, "pw", "phone", presence=False, mechanism="PLAIN")
            await phone.available(priority=10)
            await laptop.login(alice_id, "pw", "laptop", presence=False, mechanism="PLAIN")
            await laptop.available(priority=0)
            await tablet.login(alice_id, "pw", "tablet", presence=False, mechanism="PLAIN")
            await tablet.available(priority=0)
            await other.login(bob_id, "pw", "desk", mechanism="PLAIN")

            # The server says it does carbons (XEP-0280 §3).
            ident = phone.next_id("disco")
            phone.send(f"<iq type='get' id='{ident}' to='{c.domain}'><query xmlns='{DISCO_INFO}'/></iq>")
            info = await phone.wait_for(lambda e: e.get("id") == ident, what="disco#info")
            features = {f.get("var") for f in info.iter(f"{{{DISCO_INFO}}}feature")}
            assert CARBONS in features, features

            await enable_carbons(laptop)
            for stream in streams:
                stream.inbox.clear()

            # Received carbons: a message to the bare JID goes to the top resource (phone); the
            # carbons-enabled laptop gets a copy, the tablet (no carbons) nothing. Several in a
            # row: the sender's front-end must not deliver on a lease that skips the copies.
            for n in range(5):
                other.chat(alice, f"to bare {n}")
                await phone.wait_for(lambda e: plain_message(e, f"to bare {n}"), what=f"message {n} at the phone")
                wrapper = await laptop.wait_for(lambda e: carbon(e, "received") is not None, what=f"received carbon {n}")
                inner = carbon(wrapper, "received")
                assert body_of(inner) == f"to bare {n}" and inner.get("from") == other.jid, inner.attrib
                assert wrapper.get("from") == alice and wrapper.get("to") == laptop.jid, wrapper.attrib
            assert await nothing_but_marker(tablet, other, "messages to the bare JID") == []

            # To a full JID: that resource gets it, the laptop a copy, the phone nothing.
            other.chat(tablet.jid, "to the tablet")
            await tablet.wait_for(lambda e: plain_message(e, "to the tablet"), what="the message at the tablet")
            wrapper = await laptop.wait_for(lambda e: carbon(e, "received") is not None, what="the carbon of the full-JID message")
            assert body_of(carbon(wrapper, "received")) == "to the tablet"
            assert await nothing_but_marker(phone, other, "a message to the tablet") == []

            # Sent carbons: what the phone sends reaches the laptop as <sent/>, with the
            # phone's full JID as the forwarded from.
            phone.chat(bob, "from the phone")
            await other.wait_for(lambda e: plain_message(e, "from the phone"), what="the phone's message at bob")
            wrapper = await laptop.wait_for(lambda e: carbon(e, "sent") is not None, what="the sent carbon")
            inner = carbon(wrapper, "sent")
            assert body_of(inner) == "from the phone" and inner.get("from") == phone.jid and inner.get("to") == bob, inner.attrib
            assert wrapper.get("to") == laptop.jid

            # <private/> and <no-copy/> are not copied; nor are headlines.
            phone.send(f"<message to='{bob}' type='chat'><body>private</body><private xmlns='{CARBONS}'/></message>")
            phone.send(f"<message to='{bob}' type='chat'><body>no copy</body><no-copy xmlns='urn:xmpp:hints'/></message>")
            other.send(f"<message to='{alice}' type='chat'><body>private in</body><private xmlns='{CARBONS}'/></message>")
            other.chat(alice, "headline", mtype="headline")
            await other.wait_for(lambda e: plain_message(e, "no copy"), what="the no-copy message at bob")
            assert await nothing_but_marker(laptop, other, "private and no-copy messages") == []

            # A carbon is never carboned again: a client that sends one gets no copy of it.
            tablet.send(f"<message to='{bob}' type='chat'><received xmlns='{CARBONS}'><forwarded xmlns='{FORWARD}'>"
                        f"<message xmlns='{CLIENT}' from='{bob}' to='{alice}' type='chat'><body>x</body></message>"
                        f"</forwarded></received></message>")
            assert await nothing_but_marker(laptop, other, "a carbon sent by a client") == []

            # Disabled again: nothing more.
            await enable_carbons(laptop, enable=False)
            other.chat(alice, "after disable")
            await phone.wait_for(lambda e: plain_message(e, "after disable"), what="the message after disabling")
            phone.chat(bob, "sent after disable")
            assert await nothing_but_marker(laptop, other, "messages after disabling") == []
        finally:
            for stream in streams:
                await stream.close()

    run_async(scenario(), timeout=90)


def test_a_device_gone_during_its_bind_leaves_no_session_behind(tmp_path, ports):
    """A device that resets its connection while its bind is with the router: the router's
    session was never closed (the stream had not learnt it), so each such device left a ghost
    that counted against the account's resources until the front-end left the cluster."""
    cluster = limits_cluster(tmp_path, ports, {"max_resources_per_account": 2})
    try:
        user = "ghost"
        cluster.add_device(user, "pw")
        port = cluster.xmpp_port("frontend-1")

        async def scenario():
            for attempt in range(30):
                device = await RawXMPP(port, label=f"gone-{attempt}").connect()
                await device.open_stream()
                ok, answer, _ = await device.auth_plain(user, "pw")
                assert ok, answer.attrib
                await device.open_stream()
                device.send(f"<iq type='set' id='b'><bind xmlns='{BIND}'><resource>gone-{attempt}</resource></bind></iq>")
                await device.writer.drain()
                device.reset()  # the close of the session this bind opens is dropped with it
            # Every orphan is closed: two resources (the quota) bind again, within a bound.
            deadline = time.monotonic() + 15
            bound: list[RawXMPP] = []
            refusals = 0
            while len(bound) < 2:
                device = await RawXMPP(port, label=f"back-{len(bound)}").connect()
                await device.open_stream()
                ok, _, _ = await device.auth_plain(user, "pw")
                assert ok
                await device.open_stream()
                answer = await device.bind(f"back-{len(bound)}")
                if answer.get("type") == "result":
                    bound.append(device)
                    continue
                assert stanza_error(answer) == "resource-constraint", answer.attrib
                refusals += 1
                await device.close()
                assert time.monotonic() < deadline, f"the account stayed full of orphaned sessions ({refusals} refusals)"
                await asyncio.sleep(0.2)
            for device in bound:
                await device.close()

        run_async(scenario(), timeout=60)
    finally:
        cluster.stop_all()


def test_a_stream_that_never_acknowledges_is_bounded_and_loses_nothing(tmp_path, ports):
    """XEP-0198's unacknowledged queue grew without bound for a device that never sends <a/>:
    at `max_unacked_stanzas` the stream ends with policy-violation, and every message, those it
    never acknowledged and those refused, reaches the device's next session (offline)."""
    cluster = limits_cluster(tmp_path, ports, {"max_unacked_stanzas": 20})
    try:
        receiver_id, sender_id = device_ids(cluster, "unacked-", 2)
        receiver, _ = cluster.add_device(receiver_id, "pw"), cluster.add_device(sender_id, "pw")
        port = cluster.xmpp_port("frontend-1")

        async def scenario():
            quiet = await RawXMPP(port, label="never-acks").connect()
            await quiet.login(receiver_id, "pw", "phone", sm=True, mechanism="PLAIN")  # enables SM, never acks
            sender = await RawXMPP(cluster.xmpp_port("frontend-2"), label="sender").connect()
            await sender.login(sender_id, "pw", "desk", mechanism="PLAIN")
            for n in range(30):
                sender.chat(receiver, f"m{n}")
            error = await quiet.wait_for(lambda e: e.tag == "{http://etherx.jabber.org/streams}error", timeout=20,
                                         what="the policy-violation stream error")
            assert error.find("{urn:ietf:params:xml:ns:xmpp-streams}policy-violation") is not None, error
            await quiet.close()
            # The next session gets all 30: unacknowledged ones returned to the router, refused
            # ones stored offline (at least once: the first stream may have shown some).
            again = await RawXMPP(port, label="back").connect()
            await again.login(receiver_id, "pw", "phone2", presence=False, mechanism="PLAIN")
            again.send("<presence/>")
            seen: set[str] = set()
            deadline = time.monotonic() + 20
            while len(seen) < 30:
                assert time.monotonic() < deadline, f"only {sorted(seen)} of m0…m29 arrived"
                message = await again.wait_for(lambda e: e.tag == f"{{{CLIENT}}}message", timeout=max(deadline - time.monotonic(), 0.1),
                                               what=f"the messages after the kill ({len(seen)} so far)")
                if body_of(message):
                    seen.add(body_of(message))
            assert seen == {f"m{n}" for n in range(30)}
            await again.close()
            await sender.close()

        run_async(scenario(), timeout=60)
    finally:
        cluster.stop_all()
