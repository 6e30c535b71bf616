#!/usr/bin/env python3
"""Logs two real XMPP clients (slixmpp) in to a peer server on 127.0.0.1 and exchanges messages.

  bench/peers/xmpp_check.py --port 5322 [--domain bench.local] [--password pw] [--prefix user]
                            [--scram SCRAM-SHA-1|SCRAM-SHA-256]

PREFIX1 logs in with SASL PLAIN on plain TCP (no STARTTLS); PREFIX2 with STARTTLS and then
SCRAM-SHA-1 or --scram (the self-signed certificate is not verified). PREFIX1 adds PREFIX2 to its roster,
sends PREFIX2 a message and PREFIX2 answers (both available, to their bare JIDs); then a login
with a wrong password must fail. Bounded: --timeout seconds overall.
Prints one line per check and "N passed, N failed"; exits non-zero on any failure.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys
import time
import uuid

try:
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError:  # pragma: no cover
    print("slixmpp is missing: python3 -m pip install slixmpp==1.17.0", file=sys.stderr)
    sys.exit(2)

HOST = "127.0.0.1"


class Client:
    def __init__(self, jid: str, password: str, port: int, mechanism: str, starttls: bool):
        self.port = port
        self.c = slixmpp.ClientXMPP(jid, password)
        self.c.enable_direct_tls = False
        self.c.enable_starttls = starttls
        self.c.enable_plaintext = not starttls  # slixmpp only tries plain TCP when told to
        self.c.ssl_context.check_hostname = False
        self.c.ssl_context.verify_mode = ssl.CERT_NONE
        mechanisms = self.c.plugin["feature_mechanisms"]
        mechanisms.unencrypted_plain = True
        mechanisms.unencrypted_scram = True
        mechanisms.use_mech = mechanism
        self.c.auto_authorize = None
        self.c.auto_subscribe = False
        loop = asyncio.get_running_loop()
        self.started, self.failed, self.gone = loop.create_future(), loop.create_future(), loop.create_future()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.tls = False
        self.c.register_handler(Callback("check messages", MatchXPath("{jabber:client}message"),
                                         lambda m: self.messages.put_nowait(m)))
        self.c.add_event_handler("session_start", lambda _: self._settle(self.started))
        self.c.add_event_handler("failed_all_auth", lambda _: self._settle(self.failed))
        self.c.add_event_handler("disconnected", lambda _: self._settle(self.gone))
        self.c.add_event_handler("ssl_cert", lambda _: setattr(self, "tls", True))

    @staticmethod
    def _settle(future):
        if not future.done():
            future.set_result(True)

    async def login(self, timeout: float) -> bool:
        self.c.connect(HOST, self.port)
        await asyncio.wait({self.started, self.failed, self.gone}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        return self.started.done()

    async def available(self, timeout: float):
        """Initial presence, then a roster get: its answer proves the presence was handled."""
        self.c.send_presence()
        await self.c.get_roster(timeout=timeout)

    def encrypted(self) -> bool:
        transport = self.c.transport
        return bool(transport and transport.get_extra_info("ssl_object") is not None)

    async def message_with(self, body: str, timeout: float):
        """The first message carrying `body` (others, e.g. offline ones from earlier runs, are skipped)."""
        async def wait():
            while True:
                msg = await self.messages.get()
                if msg["body"] == body:
                    return msg
        return await asyncio.wait_for(wait(), timeout)

    async def close(self):
        self.c.cancel_connection_attempt()
        if not self.gone.done():
            try:
                await asyncio.wait_for(self.c.disconnect(wait=1.0), 3)
            except Exception:
                self.c.abort()


async def run(args) -> tuple[int, int]:
    passed = failed = 0

    def check(ok: bool, what: str):
        nonlocal passed, failed
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
        return ok

    d = args.domain
    a = Client(f"{args.prefix}1@{d}/check-a", args.password, args.port, "PLAIN", starttls=False)
    b = Client(f"{args.prefix}2@{d}/check-b", args.password, args.port, args.scram, starttls=True)
    try:
        t0 = time.monotonic()
        if not check(await a.login(args.step), f"{args.prefix}1 logs in: SASL PLAIN on plain TCP "
                                               f"({time.monotonic() - t0:.2f} s)"):
            return passed, failed
        check(not a.encrypted(), f"{args.prefix}1's stream is not encrypted")
        t0 = time.monotonic()
        if not check(await b.login(args.step), f"{args.prefix}2 logs in: STARTTLS + {args.scram} "
                                               f"({time.monotonic() - t0:.2f} s)"):
            return passed, failed
        check(b.encrypted(), f"{args.prefix}2's stream is encrypted (STARTTLS)")
        await a.available(args.step)
        await b.available(args.step)
        contact = f"{args.prefix}2@{d}"
        try:
            await a.c.update_roster(contact, name="bench contact", timeout=args.step)
            await a.c.get_roster(timeout=args.step)
            check(contact in a.c.client_roster and a.c.client_roster[contact]["name"] == "bench contact",
                  f"{args.prefix}1's roster keeps a contact (set, then get)")
        except Exception as error:  # IqError, IqTimeout
            check(False, f"{args.prefix}1's roster keeps a contact: {error!r}")
        body = f"bench check {uuid.uuid4()}"
        a.c.send_message(mto=f"{args.prefix}2@{d}", mbody=body, mtype="chat")
        try:
            msg = await b.message_with(body, args.step)
            check(msg["from"].bare == f"{args.prefix}1@{d}",
                  f"{args.prefix}2 receives {args.prefix}1's message (from {msg['from']})")
        except asyncio.TimeoutError:
            check(False, f"{args.prefix}2 receives {args.prefix}1's message")
        reply = f"reply {uuid.uuid4()}"
        b.c.send_message(mto=f"{args.prefix}1@{d}", mbody=reply, mtype="chat")
        try:
            msg = await a.message_with(reply, args.step)
            check(msg["from"].bare == f"{args.prefix}2@{d}", f"{args.prefix}1 receives the answer (from {msg['from']})")
        except asyncio.TimeoutError:
            check(False, f"{args.prefix}1 receives the answer")
    finally:
        await a.close()
        await b.close()
    bad = Client(f"{args.prefix}3@{d}/check-c", args.password + "-wrong", args.port, "PLAIN", starttls=False)
    try:
        ok = await bad.login(args.step)
        check(not ok and bad.failed.done(), f"{args.prefix}3 with a wrong password is refused")
    finally:
        await bad.close()
    return passed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--domain", default="bench.local")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--prefix", default="user")
    parser.add_argument("--scram", default="SCRAM-SHA-1", choices=["SCRAM-SHA-1", "SCRAM-SHA-256"],
                        help="the second client's mechanism (SCRAM-SHA-256 for --auth scram-sha-256)")
    parser.add_argument("--step", type=float, default=10.0, help="seconds allowed for each step")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed overall")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL)

    async def bounded():
        return await asyncio.wait_for(run(args), args.timeout)

    try:
        passed, failed = asyncio.run(bounded())
    except asyncio.TimeoutError:
        print(f"FAIL the checks did not finish within {args.timeout} s")
        passed, failed = 0, 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
