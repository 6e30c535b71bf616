"""Raw streams against a front-end: malformed XML, restricted XML (DOCTYPE, entity
declarations, comments, processing instructions), a wrong domain, a wrong version — each gets
its stream error (RFC 6120 §4.9) and the connection closes, while devices on the same
front-end keep talking. This module's cluster does not allow PLAIN without TLS."""

from __future__ import annotations

import asyncio
import base64
import re
from xml.etree import ElementTree as ET

import pytest

from conftest import STREAMS_NS, XMPPDevices, raw_stream, run_async

XMPP_ALLOW_PLAIN = False

STREAM_NS = "http://etherx.jabber.org/streams"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"


def header(to: str = "itest.local", version: str = "1.0") -> bytes:
    return (f"<?xml version='1.0'?><stream:stream to='{to}' xmlns='jabber:client' "
            f"xmlns:stream='{STREAM_NS}' version='{version}'>").encode()


def parse_reply(data: bytes) -> ET.Element:
    """The server's whole side of a closed stream, as one XML document."""
    text = data.decode("utf-8", errors="replace")
    try:
        return ET.fromstring(text)
    except ET.ParseError as error:
        raise AssertionError(f"the server's side of the stream is not a complete XML document ({error}): {text!r}") from None


def stream_error_condition(root: ET.Element) -> str:
    error = root.find(f"{{{STREAM_NS}}}error")
    assert error is not None, f"no <stream:error/> in {ET.tostring(root)!r}"
    conditions = [child.tag.split("}", 1)[1] for child in error
                  if child.tag.startswith(f"{{{STREAMS_NS}}}") and not child.tag.endswith("}text")]
    assert len(conditions) == 1, f"expected one defined condition in {STREAMS_NS}: {ET.tostring(error)!r}"
    return conditions[0]


async def expect_stream_error(port: int, chunks, condition: str) -> ET.Element:
    data, closed = await raw_stream(port, chunks, timeout=5)
    assert closed, f"the server did not close the connection after {condition}: {data!r}"
    assert condition.encode() in data and STREAMS_NS.encode() in data, f"no {condition} stream error: {data!r}"
    assert data.rstrip().endswith(b"</stream:stream>"), f"the stream is not closed: {data!r}"
    root = parse_reply(data)
    assert root.tag == f"{{{STREAM_NS}}}stream" and root.get("from") == "itest.local", root.attrib
    assert stream_error_condition(root) == condition
    return root


CASES = {
    "not-well-formed: unclosed element": ([header(), b"<message><unclosed></message>"], "not-well-formed"),
    "not-well-formed: garbage": ([header(), b"<<<>>> not xml at all"], "not-well-formed"),
    "restricted-xml: DOCTYPE with an entity declaration": (
        [b"<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY boom 'boom'>]>" + header()[len(b"<?xml version='1.0'?>"):]],
        "restricted-xml"),
    "restricted-xml: comment": ([header(), b"<!-- a comment -->"], "restricted-xml"),
    "restricted-xml: processing instruction": ([header(), b"<?evil instruction?>"], "restricted-xml"),
    "host-unknown: wrong domain": ([header(to="elsewhere.example")], "host-unknown"),
    "unsupported-version: 2.0": ([header(version="2.0")], "unsupported-version"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stream_error(xmpp_cluster, case):
    chunks, condition = CASES[case]
    run_async(expect_stream_error(xmpp_cluster.xmpp_port("frontend-1"), chunks, condition), 20)


def test_malformed_stream_does_not_disturb_other_devices(xmpp_cluster):
    c = xmpp_cluster
    alice = c.add_device("calm-a", "pw")
    bob = c.add_device("calm-b", "pw")
    port = c.xmpp_port("frontend-1")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", port)
            b = await xs.login(f"{bob}/phone", "pw", port)

            async def chatter(rounds: int):
                for i in range(rounds):
                    a.send_chat(bob, f"ping {i}")
                    msg = await b.next_message(what=f"ping {i}")
                    assert msg["body"] == f"ping {i}"
                    b.send_chat(alice, f"pong {i}")
                    msg = await a.next_message(what=f"pong {i}")
                    assert msg["body"] == f"pong {i}"
                    await asyncio.sleep(0.01)

            bad = [expect_stream_error(port, [header(), b"<message><unclosed></message>"], "not-well-formed") for _ in range(5)]
            bad += [expect_stream_error(port, [b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>"], "restricted-xml")]
            await asyncio.gather(chatter(50), *bad)
            await chatter(5)
            assert not a.stream_errors and not b.stream_errors, (a.stream_errors, b.stream_errors)

    run_async(scenario(), 40)
    assert c.nodes["frontend-1"].running, c.log_tail("frontend-1")
    log = c.nodes["frontend-1"].log.read_text(errors="replace")
    assert re.search(r"condition=not-well-formed", log), "the front-end did not log the stream error"


def test_plain_not_offered_without_tls_unless_allowed(xmpp_cluster):
    """This module's cluster leaves allow_plain_without_tls unset: SCRAM only, PLAIN refused."""
    c = xmpp_cluster
    c.add_device("noplain", "pw")
    port = c.xmpp_port("frontend-2")

    async def scenario():
        initial = base64.b64encode(b"\x00noplain\x00pw").decode()
        data, closed = await raw_stream(port, [header(), f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{initial}</auth>".encode()],
                                        timeout=5, until=b"</failure>")
        text = data.decode(errors="replace")
        mechanisms = re.findall(r"<mechanism>([^<]+)</mechanism>", text)
        assert mechanisms == ["SCRAM-SHA-256", "SCRAM-SHA-1"], f"offered {mechanisms}: {text!r}"
        assert "invalid-mechanism" in text and "<success" not in text, text

        async with XMPPDevices() as xs:
            d = xs.new(f"noplain@{c.domain}/x", "pw", port, mechanism="PLAIN", plain=True)
            d.c.connect("127.0.0.1", port)
            done, _ = await asyncio.wait({d.started, d.gone}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            assert not d.started.done(), "logged in with PLAIN although the cluster does not allow it"
            await xs.login(f"noplain@{c.domain}/scram", "pw", port)

    run_async(scenario(), 30)


async def scram_challenge(port: int, user: str) -> dict:
    """The server-first message of SCRAM-SHA-256 for `user`, as {r, s, i} (raw stream)."""
    client_first = f"n,,n={user},r=itestclientnonce0123456789"
    auth = f"<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-256'>{base64.b64encode(client_first.encode()).decode()}</auth>"
    data, _ = await raw_stream(port, [header(), auth.encode()], timeout=5, until=b"</challenge>")
    text = data.decode(errors="replace")
    found = re.search(r"<challenge[^>]*>([^<]+)</challenge>", text)
    assert found, f"no SCRAM challenge for {user!r}: {text!r}"
    return dict(part.split("=", 1) for part in base64.b64decode(found.group(1)).decode().split(","))


def test_unknown_user_gets_a_decoy_scram_challenge(xmpp_cluster):
    """An unknown device id is not revealed by SASL: it gets a challenge shaped like a real one
    (same iteration count, a stable salt), and fails only at the proof (see the login tests)."""
    c = xmpp_cluster
    c.add_device("decoy-known", "pw")
    port = c.xmpp_port("frontend-1")

    async def scenario():
        known = await scram_challenge(port, "decoy-known")
        ghost1 = await scram_challenge(port, "decoy-ghost")
        ghost2 = await scram_challenge(port, "decoy-ghost")
        for challenge in (known, ghost1, ghost2):
            assert set(challenge) == {"r", "s", "i"}, challenge
            assert challenge["r"].startswith("itestclientnonce0123456789") and len(challenge["r"]) > 26, challenge
        assert ghost1["i"] == known["i"], f"iteration counts differ: known {known['i']}, unknown {ghost1['i']}"
        assert ghost1["s"] == ghost2["s"], "the decoy salt of an unknown user changes between attempts"
        assert len(base64.b64decode(ghost1["s"])) == len(base64.b64decode(known["s"])), (ghost1, known)

    run_async(scenario(), 30)
