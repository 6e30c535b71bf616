"""STARTTLS logins, XEP-0198 stream resumption and XEP-0352 client state indication, with real
slixmpp clients against a cluster of real processes whose front-ends offer STARTTLS with a
self-signed certificate made for the test."""
from __future__ import annotations

import asyncio
import ssl
import subprocess

import pytest

from conftest import Cluster, XMPPDevices, run_async, device_ids

PLAIN_FORBIDDEN = False


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, ports):
    base = tmp_path_factory.mktemp("tls_sm_csi")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=itest.local",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    c = Cluster(base, ports, domain="itest.local", allow_plain=False)
    plain_document = c.document
    c.document = lambda: {**plain_document(), "tls_certificate": str(cert), "tls_key": str(key), "resume_window_seconds": 3}
    c.layout()
    try:
        c.start_all()
        c.wait_healthy(timeout=45)
        c.wait_device_service(timeout=30)
        yield c
    finally:
        c.stop_all()


def trusting(device, sm: bool = False, csi: bool = False):
    """Accept the test's self-signed certificate; register the extensions under test."""
    device.c.ssl_context.check_hostname = False
    device.c.ssl_context.verify_mode = ssl.CERT_NONE
    if sm:
        device.c.register_plugin("xep_0198")
    if csi:
        device.c.register_plugin("xep_0352")
    return device


def ports_of(cluster):
    return [n.xmpp for n in cluster.of_role("frontend")]


def test_starttls_then_plain_inside_tls(tls_cluster):
    """STARTTLS is offered and used; PLAIN (not offered in the clear here) works inside TLS."""
    a_id, b_id = device_ids(tls_cluster, "tls", 2)
    for d in (a_id, b_id):
        tls_cluster.add_device(d, "pw")
    pa, pb = ports_of(tls_cluster)

    async def scenario():
        async with XMPPDevices() as xs:
            a = trusting(xs.new(f"{a_id}@itest.local/one", "pw", pa, mechanism="PLAIN", plain=True))
            b = trusting(xs.new(f"{b_id}@itest.local/two", "pw", pb))
            await a.login(presence=True)
            await b.login(presence=True)
            assert a.c.transport.get_extra_info("sslcontext") is not None or a.c.transport.get_extra_info("ssl_object") is not None, \
                "the stream is not encrypted"
            a.c.send_message(mto=b.full, mbody="over tls", mtype="chat")
            msg = await b.next_message()
            assert msg["body"] == "over tls"

    run_async(scenario())


def test_stream_resumption_resends_what_was_not_acknowledged(tls_cluster):
    """B's TCP connection is cut; what A sends meanwhile is queued by B's front-end; B resumes
    (XEP-0198) and gets exactly those messages, in order, once."""
    a_id, b_id = device_ids(tls_cluster, "sm", 2)
    for d in (a_id, b_id):
        tls_cluster.add_device(d, "pw")
    pa, pb = ports_of(tls_cluster)

    async def scenario():
        async with XMPPDevices() as xs:
            a = trusting(xs.new(f"{a_id}@itest.local/a", "pw", pa))
            b = trusting(xs.new(f"{b_id}@itest.local/b", "pw", pb), sm=True)
            await a.login(presence=True)
            await b.login(presence=True)
            sm = b.c.plugin["xep_0198"]
            for _ in range(100):
                if sm.sm_id:
                    break
                await asyncio.sleep(0.05)
            assert sm.sm_id, "stream management was not enabled"
            a.c.send_message(mto=b.full, mbody="before", mtype="chat")
            assert (await b.next_message())["body"] == "before"
            await asyncio.sleep(0.5)  # let B's ack of "before" reach the server

            b.c.transport.abort()  # the device's TCP connection is cut, no closing handshake
            await asyncio.sleep(0.5)
            for i in range(5):
                a.c.send_message(mto=b.full, mbody=f"away {i}", mtype="chat")
            await a.roster()  # A's stanzas were all handled by its front-end in order
            await asyncio.sleep(0.5)

            resumed = asyncio.ensure_future(b.c.wait_until("session_resumed", timeout=15))
            b.c.connect("127.0.0.1", pb)
            await asyncio.wait_for(resumed, 20)
            bodies = [(await b.next_message(what=f"resent message {i}"))["body"] for i in range(5)]
            assert bodies == [f"away {i}" for i in range(5)]
            await asyncio.sleep(1.0)
            extra = []
            while not b.messages.empty():
                extra.append(b.messages.get_nowait()["body"])
            assert extra == [], f"duplicated after resumption: {extra}"

    run_async(scenario(), timeout=90)


def test_inactive_client_gets_messages_but_presence_waits(tls_cluster):
    """XEP-0352: while B is inactive, A's presence to B is held and A's messages flow; when B
    is active again, the held presence arrives."""
    a_id, b_id = device_ids(tls_cluster, "csi", 2)
    for d in (a_id, b_id):
        tls_cluster.add_device(d, "pw")
    pa, pb = ports_of(tls_cluster)

    async def scenario():
        async with XMPPDevices() as xs:
            a = trusting(xs.new(f"{a_id}@itest.local/a", "pw", pa))
            b = trusting(xs.new(f"{b_id}@itest.local/b", "pw", pb), csi=True)
            await a.login(presence=True)
            await b.login(presence=True)
            while not b.presences.empty():
                b.presences.get_nowait()
            b.c.send_raw("<inactive xmlns='urn:xmpp:csi:0'/>")
            await b.roster()
            a.c.send_presence(pto=b.full, pstatus="directed while inactive")
            a.c.send_message(mto=b.full, mbody="flows while inactive", mtype="chat")
            assert (await b.next_message())["body"] == "flows while inactive"
            await asyncio.sleep(0.5)
            assert b.presences.empty(), "presence was delivered to an inactive client"
            b.c.send_raw("<active xmlns='urn:xmpp:csi:0'/>")
            presence = await b.next_presence(what="the held presence")
            assert presence["status"] == "directed while inactive"

    run_async(scenario())


def test_unacknowledged_messages_survive_an_expired_resumption_window(tls_cluster):
    """B's connection is cut and B does not come back within the window (3 s in this cluster):
    the messages B never acknowledged go back to B's router and wait offline; B's next login
    gets them (with delay stamps), once."""
    a_id, b_id = device_ids(tls_cluster, "expire", 2)
    for d in (a_id, b_id):
        tls_cluster.add_device(d, "pw")
    pa, pb = ports_of(tls_cluster)

    async def scenario():
        async with XMPPDevices() as xs:
            a = trusting(xs.new(f"{a_id}@itest.local/a", "pw", pa))
            b = trusting(xs.new(f"{b_id}@itest.local/b", "pw", pb), sm=True)
            await a.login(presence=True)
            await b.login(presence=True)
            for _ in range(100):
                if b.c.plugin["xep_0198"].sm_id:
                    break
                await asyncio.sleep(0.05)
            b.c.transport.abort()
            await asyncio.sleep(0.5)
            for i in range(3):
                a.c.send_message(mto=f"{b_id}@itest.local", mbody=f"kept {i}", mtype="chat")
            await a.roster()
            await asyncio.sleep(4.5)  # past the 3 s window: the session ends, messages go offline

            b2 = trusting(xs.new(f"{b_id}@itest.local/again", "pw", pb))
            await b2.login(presence=True)
            got = [await b2.next_message(what=f"offline message {i}") for i in range(3)]
            assert [m["body"] for m in got] == [f"kept {i}" for i in range(3)]
            assert all(m.xml.find("{urn:xmpp:delay}delay") is not None for m in got), "no delay stamps"
            await asyncio.sleep(1.0)
            assert b2.messages.empty(), "a message arrived twice"

    run_async(scenario(), timeout=90)
