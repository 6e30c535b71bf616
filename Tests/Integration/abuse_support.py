"""Support for the abuse and limits tests (test_abuse_*.py).

A small XMPP client on a raw asyncio TCP stream, for the abuse and limits tests: cheap enough
to log in hundreds of streams (SCRAM-SHA-256 with the salted password cached, or PLAIN), to
time a SASL exchange to the millisecond, to write stanzas as fast as the socket takes them, and
to reset a connection (SO_LINGER {1, 0}: RST) in the middle of things. Every wait has a bound.

Stanzas are parsed with an incremental expat parser (xml.etree.ElementTree.XMLPullParser); each
top-level element of the stream is handed to `on_stanza` (when set; a true return consumes it)
or kept in `inbox` for `wait_for`. The stream's root keeps no children, so memory stays flat
however much arrives.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import os
import socket
import struct
import time
from xml.etree import ElementTree as ET

HOST = "127.0.0.1"
CLIENT = "jabber:client"
STREAMS = "http://etherx.jabber.org/streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
SM = "urn:xmpp:sm:3"
ROSTER = "jabber:iq:roster"
DELAY = "urn:xmpp:delay"

_SALTED: dict[tuple, bytes] = {}  # (password, salt, iterations) → SaltedPassword (SCRAM-SHA-256)


def xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def stanza_error(element) -> str | None:
    """The defined condition of an error stanza (an ElementTree element), or None."""
    from conftest import element_error
    return element_error(element)


def to_text(element) -> str:
    return ET.tostring(element, encoding="unicode")


class XMPPStreamClosed(AssertionError):
    pass


class RawXMPP:
    """One device stream. `await RawXMPP(port).login(user, password, resource)` → bound."""

    def __init__(self, port: int, domain: str = "itest.local", host: str = HOST, source: str | None = None,
                 label: str | None = None):
        self.port, self.domain, self.host, self.source = port, domain, host, source
        self.label = label or f"raw:{port}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.inbox: collections.deque = collections.deque()
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()  # the server closed the stream or the connection
        self.on_stanza = None  # callable(element) -> bool (True: consumed, not kept in inbox)
        self.bytes_in = 0
        self.jid: str | None = None
        self._parser = None
        self._root = None
        self._depth = 0
        self._task: asyncio.Task | None = None
        self._ids = 0

    def __repr__(self):
        return f"<RawXMPP {self.jid or self.label}>"

    # -- connection ----------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0):
        local = (self.source, 0) if self.source else None
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, local_addr=local), timeout)
        self._task = asyncio.ensure_future(self._read_loop())
        return self

    def _new_parser(self):
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._root = None
        self._depth = 0

    async def _read_loop(self):
        try:
            while True:
                data = await self.reader.read(262144)
                if not data:
                    break
                self.bytes_in += len(data)
                self._feed(data)
        except (ConnectionError, OSError):
            pass
        except ET.ParseError as error:
            self.inbox.append(ET.Element("parse-error", {"text": str(error)}))
        finally:
            self.closed.set()
            self.arrived.set()

    def _feed(self, data: bytes):
        self._parser.feed(data)
        for event, element in self._parser.read_events():
            if event == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root = element
                    self.stream_attributes = dict(element.attrib)
            else:
                self._depth -= 1
                if self._depth == 1:
                    self._root.remove(element)
                    if self.on_stanza is None or not self.on_stanza(element):
                        self.inbox.append(element)
                        self.arrived.set()
                elif self._depth == 0:
                    self.inbox.append(ET.Element("stream-end"))
                    self.arrived.set()

    def send(self, text: str | bytes):
        self.writer.write(text.encode() if isinstance(text, str) else text)

    async def send_drain(self, text: str | bytes):
        self.send(text)
        await self.writer.drain()

    def next_id(self, prefix: str = "q") -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def wait_for(self, match, timeout: float = 10.0, what: str = "a stanza"):
        """The first kept element (oldest first) for which `match(element)` is true; removed from
        the inbox. AssertionError after `timeout` s or when the stream ends first."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for element in self.inbox:
                if match(element):
                    self.inbox.remove(element)
                    return element
            if self.closed.is_set():
                raise XMPPStreamClosed(f"{self.label}: the stream ended while waiting for {what}; kept: {self.kept()}")
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"{self.label}: timed out after {timeout} s waiting for {what}; kept: {self.kept()}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    def kept(self, last: int = 6) -> list[str]:
        return [to_text(e)[:300] for e in list(self.inbox)[-last:]]

    def reset(self):
        """Drops the TCP connection with a RST (SO_LINGER {1, 0}), at once."""
        if self.writer is None:
            return
        sock = self.writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.writer.transport.abort()
        if self._task:
            self._task.cancel()

    async def close(self, timeout: float = 2.0):
        """Ends the stream politely (bounded) and closes the socket."""
        if self.writer is None:
            return
        try:
            if not self.closed.is_set() and not self.writer.is_closing():
                self.writer.write(b"</stream:stream>")
                await asyncio.wait_for(self.writer.drain(), timeout)
                await asyncio.wait_for(self.closed.wait(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        self.writer.transport.abort()
        if self._task:
            self._task.cancel()
            try:
                await asyncio.wait_for(self._task, timeout)
            except (asyncio.CancelledError, asyncio.TimeoutError, Exception):
                pass

    # -- negotiation ---------------------------------------------------------------------

    async def open_stream(self, timeout: float = 10.0):
        """Sends a stream header; returns the server's <stream:features/>."""
        self._new_parser()
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='{CLIENT}' xmlns:stream='{STREAMS}' "
                  f"to='{self.domain}' version='1.0'>")
        return await self.wait_for(lambda e: e.tag == f"{{{STREAMS}}}features", timeout, "stream features")

    async def auth_plain(self, user: str, password: str, timeout: float = 20.0):
        """One SASL PLAIN exchange: (True on <success/>, the answer, seconds from sending <auth/>
        to the answer)."""
        payload = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        started = time.perf_counter()
        self.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{payload}</auth>")
        answer = await self.wait_for(lambda e: e.tag in (f"{{{SASL}}}success", f"{{{SASL}}}failure"), timeout,
                                     "the PLAIN answer")
        return answer.tag == f"{{{SASL}}}success", answer, time.perf_counter() - started

    async def auth_scram(self, user: str, password: str, timeout: float = 20.0):
        """SCRAM-SHA-256 (RFC 7677): (True on <success/>, the last answer, seconds from the
        client-final message to the answer)."""
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n={user},r={nonce}"
        self.send(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{base64.b64encode(('n,,' + first_bare).encode()).decode()}</auth>")
        answer = await self.wait_for(lambda e: e.tag in (f"{{{SASL}}}challenge", f"{{{SASL}}}failure"), timeout,
                                     "the SCRAM challenge")
        if answer.tag == f"{{{SASL}}}failure":
            return False, answer, 0.0
        server_first = base64.b64decode(answer.text or "").decode()
        fields = dict(part.split("=", 1) for part in server_first.split(","))
        salt, iterations = base64.b64decode(fields["s"]), int(fields["i"])
        key = (password, salt, iterations)
        if key not in _SALTED:
            _SALTED[key] = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        salted = _SALTED[key]
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        started = time.perf_counter()
        self.send(f"<response xmlns='{SASL}'>{base64.b64encode(f'{without_proof},p={proof}'.encode()).decode()}</response>")
        answer = await self.wait_for(lambda e: e.tag in (f"{{{SASL}}}success", f"{{{SASL}}}failure"), timeout,
                                     "the SCRAM outcome")
        return answer.tag == f"{{{SASL}}}success", answer, time.perf_counter() - started

    async def bind(self, resource: str | None, timeout: float = 10.0):
        """Binds; returns the <iq/> answer (result or error). Sets `jid` on success."""
        ident = self.next_id("bind")
        inner = f"<resource>{xml_escape(resource)}</resource>" if resource else ""
        self.send(f"<iq type='set' id='{ident}'><bind xmlns='{BIND}'>{inner}</bind></iq>")
        answer = await self.wait_for(lambda e: e.tag == f"{{{CLIENT}}}iq" and e.get("id") == ident, timeout, "the bind answer")
        if answer.get("type") == "result":
            self.jid = answer.findtext(f"{{{BIND}}}bind/{{{BIND}}}jid")
        return answer

    async def login(self, user: str, password: str, resource: str | None, *, presence: bool = True,
                    mechanism: str = "SCRAM-SHA-256", sm: bool = False, timeout: float = 20.0):
        """Connect, authenticate (AssertionError if refused), bind (AssertionError if refused);
        optionally enable XEP-0198 and send initial presence (confirmed by a roster answer)."""
        if self.writer is None:
            await self.connect()
        await self.open_stream(timeout)
        ok, answer, _ = await (self.auth_scram if mechanism == "SCRAM-SHA-256" else self.auth_plain)(user, password, timeout)
        assert ok, f"{self.label}: {mechanism} login of {user} refused: {to_text(answer)}"
        await self.open_stream(timeout)
        bound = await self.bind(resource, timeout)
        assert bound.get("type") == "result", f"{self.label}: bind of {user}/{resource} refused: {to_text(bound)}"
        if sm:
            self.send(f"<enable xmlns='{SM}'/>")
            await self.wait_for(lambda e: e.tag == f"{{{SM}}}enabled", timeout, "<enabled/>")
        if presence:
            await self.available(timeout=timeout)
        return self

    async def roster_get(self, timeout: float = 10.0):
        ident = self.next_id("roster")
        self.send(f"<iq type='get' id='{ident}'><query xmlns='{ROSTER}'/></iq>")
        return await self.wait_for(lambda e: e.tag == f"{{{CLIENT}}}iq" and e.get("id") == ident, timeout, "the roster answer")

    async def available(self, priority: int | None = None, timeout: float = 10.0):
        """Initial (or updated) presence; returns once a roster get sent after it is answered
        (the front-end handles a stream's stanzas in order)."""
        inner = f"<priority>{priority}</priority>" if priority is not None else ""
        self.send(f"<presence>{inner}</presence>")
        await self.roster_get(timeout)

    def chat(self, to: str, body: str, mtype: str = "chat", ident: str | None = None) -> str:
        text = message_xml(to, body, mtype, ident)
        self.send(text)
        return text


def message_xml(to: str, body: str, mtype: str = "chat", ident: str | None = None) -> str:
    id_attr = f" id='{ident}'" if ident else ""
    return f"<message to='{xml_escape(to)}' type='{mtype}'{id_attr}><body>{xml_escape(body)}</body></message>"


def is_message(element) -> bool:
    return element.tag == f"{{{CLIENT}}}message"


def is_presence(element) -> bool:
    return element.tag == f"{{{CLIENT}}}presence"


def body_of(element) -> str | None:
    return element.findtext(f"{{{CLIENT}}}body")


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------------------------
# Clusters with a "limits" object


def limits_cluster(base, ports, limits: dict, allow_plain: bool = True, **layout):
    """A started cluster (conftest.Cluster, default layout: 2 managers, 2 front-ends, 2 routers,
    2 transports) whose cluster file carries `"limits": limits`; every node healthy and the device
    service reachable. The caller stops it (cluster.stop_all(), also when this raises: the
    processes it started are stopped here before re-raising)."""
    from conftest import Cluster
    cluster = Cluster(base, ports, domain="itest.local", allow_plain=allow_plain)
    plain_document = cluster.document
    cluster.document = lambda: {**plain_document(), "limits": dict(limits)}
    cluster.layout(**layout)
    try:
        cluster.start_all()
        cluster.wait_healthy(timeout=60)
        cluster.wait_device_service(timeout=40)
    except BaseException:
        cluster.stop_all()
        raise
    return cluster


def process_alive(cluster, name: str) -> tuple[bool, str]:
    """(node `name` runs its first process and answers /health 200, a description)."""
    from conftest import pid_alive
    node = cluster.nodes[name]
    alive = node.proc is not None and node.proc.poll() is None and pid_alive(node.pid)
    status, parsed, body = cluster.health(name, timeout=3)
    same_pid = parsed is not None and parsed.get("pid") in (None, node.pid)
    return (alive and status == 200 and same_pid,
            f"{name}: pid {node.pid} alive={alive} exit={node.proc.returncode if node.proc else None} "
            f"/health {status} {body.strip()[:200]}")
