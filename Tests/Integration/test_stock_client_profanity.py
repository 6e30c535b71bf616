"""A stock XMPP client against MMGS: Profanity (a terminal client built on libstrophe), driven in
a detached tmux session, logs in to a front-end and what a person would see is checked.

The issue: "Every stock client (Profanity, Gajim, Dino, Conversations, Monal) enables carbons
at login; today each shows 'Server error enabling message carbons: service-unavailable'".
Profanity sends <enable xmlns='urn:xmpp:carbons:2'/> right after login and, on an error answer,
prints "Server error enabling message carbons: …" in its console window; on a result it logs
"Message carbons enabled." (debug log, under $XDG_DATA_HOME/profanity/logs).

Profanity runs with a private HOME / XDG directories under tmp_path (no user configuration), in
a tmux server of its own (`tmux -S <private socket> -f /dev/null`, killed at the end), in a fixed
200x50 window. The front-ends have no TLS certificate: Profanity connects with `tls disable`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import XMPPDevices, placement_owners, run_async, tail, wait_until

CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
CLIENT = "jabber:client"
WIDTH, HEIGHT = 200, 50
# Anything on screen or in Profanity's log saying enabling carbons failed ("Server error
# enabling message carbons: service-unavailable" in the console, "Error enabling carbons: …" in
# the log), in either word order.
CARBONS_ERROR = re.compile(r"error[^\n]*carbons|carbons[^\n]*error", re.IGNORECASE)

pytestmark = pytest.mark.skipif(shutil.which("profanity") is None or shutil.which("tmux") is None,
                                reason="needs profanity and tmux (apt-get install profanity tmux)")


class ProfanityInTmux:
    """Profanity in a detached tmux session on a private tmux server (socket `-S` in a private
    temporary directory, short enough for a Unix socket path; no tmux configuration), with HOME and the XDG directories under `base`. Every screen captured is
    kept (`captures`) so a transient error line is not missed."""

    def __init__(self, base: Path):
        self.base = base
        self.home = base / "home"
        self.data = self.home / ".local" / "share"
        for d in (self.home / ".config", self.data, self.home / ".cache", self.home / "runtime"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home / "runtime", 0o700)
        self.socket_dir = tempfile.mkdtemp(prefix="mmgs-itest-tmux-")
        self.socket = os.path.join(self.socket_dir, "sock")
        self.session = "profanity"
        self.captures: list[str] = []
        self.started = False

    @property
    def log(self) -> Path:
        return self.data / "profanity" / "logs" / "profanity.log"

    def tmux(self, *args, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess:
        result = subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null", *args], capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, f"tmux {' '.join(args)} failed ({result.returncode}): {result.stderr}"
        return result

    def start(self):
        h = str(self.home)
        command = ["env", "-i", f"HOME={h}", f"XDG_CONFIG_HOME={h}/.config", f"XDG_DATA_HOME={self.data}",
                   f"XDG_CACHE_HOME={h}/.cache", f"XDG_RUNTIME_DIR={h}/runtime", "TERM=tmux-256color",
                   "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin",
                   "profanity", "-l", "DEBUG"]
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(WIDTH), "-y", str(HEIGHT), "--", *command)
        self.started = True

    def alive(self) -> bool:
        return self.started and self.tmux("has-session", "-t", self.session, check=False).returncode == 0

    def screen(self) -> str:
        result = self.tmux("capture-pane", "-p", "-t", self.session, check=False)
        if result.returncode != 0:
            return ""
        self.captures.append(result.stdout)
        return result.stdout

    def type_line(self, text: str):
        """Types `text` literally (no key-name lookup) and presses Enter."""
        self.tmux("send-keys", "-t", self.session, "-l", text)
        self.tmux("send-keys", "-t", self.session, "Enter")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def explain(self) -> str:
        return (f"--- Profanity screen ---\n{trimmed(self.captures[-1]) if self.captures else '<nothing captured>'}\n"
                f"--- {self.log} (tail) ---\n{tail(self.log, 40)}")

    def wait_screen(self, pattern: str, timeout: float, what: str) -> re.Match:
        """Polls the pane (bounded) until `pattern` (a regex) shows; returns the match."""
        found = {}

        def shown():
            if not self.alive():
                raise AssertionError(f"Profanity's tmux session ended while waiting for {what}\n{self.explain()}")
            found["m"] = re.search(pattern, self.screen())
            return found["m"]

        wait_until(shown, timeout, interval=0.1, message=lambda: f"Profanity never showed {what} ({pattern!r})\n{self.explain()}")
        return found["m"]

    async def wait_screen_async(self, pattern: str, timeout: float, what: str) -> re.Match:
        """wait_screen for a coroutine: sleeps on the event loop so slixmpp streams keep running."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f"Profanity's tmux session ended while waiting for {what}\n{self.explain()}")
            m = re.search(pattern, self.screen())
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:.1f} s: Profanity never showed {what} ({pattern!r})\n{self.explain()}")
            await asyncio.sleep(0.1)

    def stop(self):
        """/quit (bounded wait for Profanity to end), then kill the session and the private tmux
        server whatever happened, and remove the socket's directory."""
        try:
            if self.alive():
                self.tmux("send-keys", "-t", self.session, "C-u", check=False)
                self.type_line("/quit")
                deadline = time.monotonic() + 5
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(0.1)
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        finally:
            for args in (("kill-session", "-t", self.session), ("kill-server",)):
                try:
                    self.tmux(*args, check=False)
                except subprocess.TimeoutExpired:
                    pass
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def trimmed(screen: str) -> str:
    """A captured pane without its padding: trailing blanks cut, runs of empty lines shown as one."""
    lines = [line.rstrip() for line in screen.splitlines()]
    kept = [line for i, line in enumerate(lines) if line or (i > 0 and lines[i - 1])]
    return "\n".join(kept).strip("\n")


def on_other_routers(cluster, first: str, prefix: str) -> str:
    """A device id PREFIX, PREFIX1, … whose bare JID another router owns than FIRST's (so the
    chat crosses routers)."""
    routers = [n.name for n in cluster.of_role("router")]
    candidates = [prefix] + [f"{prefix}{i}" for i in range(1, 64)]
    owners = placement_owners(routers, [f"{d}@{cluster.domain}" for d in [first] + candidates])
    for d in candidates:
        if owners[f"{d}@{cluster.domain}"] != owners[f"{first}@{cluster.domain}"]:
            return d
    raise AssertionError(f"no id {prefix}N on another router than {first}")


def carbon_copy(msg, direction: str):
    """The forwarded jabber:client message of a `direction` ('sent' / 'received') carbon, else None."""
    return msg.xml.find(f"{{{CARBONS}}}{direction}/{{{FORWARD}}}forwarded/{{{CLIENT}}}message")


def test_profanity_logs_in_enables_carbons_and_chats(xmpp_cluster, tmp_path):
    c = xmpp_cluster
    alice_id = "alice"
    bob_id = on_other_routers(c, alice_id, "bob")
    alice, bob = c.add_device(alice_id, "pw"), c.add_device(bob_id, "pw")
    fe1, fe2 = c.xmpp_port("frontend-1"), c.xmpp_port("frontend-2")
    prof = ProfanityInTmux(tmp_path / "profanity")
    pane_file = tmp_path / "profanity-final-pane.txt"
    failed = True
    try:
        prof.start()
        prof.wait_screen(r"Type '/help' to show complete help", 15, "its welcome screen")

        # 1. Log in: no TLS (the front-ends have no certificate), password at the prompt.
        prof.type_line(f"/connect {alice} server 127.0.0.1 port {fe1} tls disable")
        prof.wait_screen(r"Enter password:", 10, "the password prompt")
        prof.type_line("pw")
        m = prof.wait_screen(rf"({re.escape(alice)}/\S+) logged in successfully, online", 15, "the login")
        profanity_jid = m.group(1)
        prof.wait_screen(r"\[online\]", 5, "[online] in the title bar")

        # 2. Carbons: Profanity's <enable xmlns='urn:xmpp:carbons:2'/> answered with a result.
        def carbons_answered():
            text = prof.log_text()
            sent = re.search(r'SENT: <iq id="([^"]+)" type="set"><enable xmlns="urn:xmpp:carbons:2"/>', text)
            if not sent:
                return None
            ident = re.escape(sent.group(1))
            return re.search(rf'RECV: <iq (?=[^>]*id="{ident}")[^>]*>', text)

        answer = wait_until(carbons_answered, 10, interval=0.1, message=lambda: (
            "Profanity's log shows no answer to its carbons enable iq\n" + prof.explain()))
        assert 'type="result"' in answer.group(0), f"carbons enable answered with {answer.group(0)}\n{prof.explain()}"
        wait_until(lambda: "Message carbons enabled." in prof.log_text(), 5, interval=0.1,
                   message=lambda: "Profanity never logged 'Message carbons enabled.'\n" + prof.explain())

        # 3. bob (slixmpp, other front-end, other router) and Profanity chat.
        async def scenario():
            async with XMPPDevices() as xs:
                b = await xs.login(f"{bob}/desk", "pw", fe2)
                b.send_chat(alice, "hello from bob")
                await prof.wait_screen_async(rf"<< chat message: {re.escape(bob)}/desk \(win (\d+)\)", 10,
                                             "the new-message notice in the console")
                win = re.search(rf"<< chat message: {re.escape(bob)}/desk \(win (\d+)\)", prof.captures[-1]).group(1)
                prof.type_line(f"/win {win}")
                await prof.wait_screen_async(rf"{re.escape(bob)}/desk: hello from bob", 10, "bob's message in the chat window")

                # A second session of alice with carbons on: it must get a copy of what Profanity sends.
                copy = await xs.login(f"{alice}/carbon-copy", "pw", fe2)
                enabled = await copy.iq(None, f"<enable xmlns='{CARBONS}'/>", itype="set")
                assert enabled["type"] == "result", f"carbons enable on the second alice session: {enabled}"
                copy.drain_messages()

                # Typed in the chat window (a person would do just that).
                prof.type_line("hello from profanity")
                await prof.wait_screen_async(r"me: hello from profanity", 10, "the reply in the chat window")
                reply = await b.next_message(what="Profanity's reply")
                assert reply["body"] == "hello from profanity", f"bob got {reply}"
                assert str(reply["from"]) == profanity_jid, f"reply from {reply['from']}, expected {profanity_jid}"
                assert reply["type"] == "chat"

                while True:
                    msg = await copy.next_message(what="the sent carbon of Profanity's reply")
                    inner = carbon_copy(msg, "sent")
                    if inner is not None:
                        break
                assert str(msg["from"]) == alice, f"a sent carbon must come from the bare JID: {msg}"
                assert inner.findtext(f"{{{CLIENT}}}body") == "hello from profanity", f"carbon: {msg}"
                assert inner.get("from") == profanity_jid, f"carbon's forwarded from: {msg}"
                assert inner.get("to") == f"{bob}/desk", f"carbon's forwarded to: {msg}"

        run_async(scenario(), 40)

        # 4. Back to the console: what a person sees there, start to end, has no carbons error.
        prof.type_line("/win 1")
        prof.wait_screen(r"logged in successfully", 5, "the console window")
        for screen in prof.captures:
            bad = CARBONS_ERROR.search(screen)
            assert bad is None, f"Profanity showed a carbons error: {bad.group(0)!r}\n{screen}"
        log = prof.log_text()
        for line in ("Server error enabling message carbons", "Error enabling carbons"):
            assert line not in log, f"Profanity's log has {line!r}\n{prof.explain()}"
        failed = False
    finally:
        try:
            final = (prof.screen() if prof.alive() else "") or (prof.captures[-1] if prof.captures else "<nothing captured>")
            chat = next((s for s in reversed(prof.captures) if "me: hello from profanity" in s), "<not reached>")
            pane_file.write_text(f"=== final pane ===\n{trimmed(final)}\n=== chat window with the reply ===\n{trimmed(chat)}\n")
            if failed:
                print(f"Profanity panes (saved to {pane_file}):\n{pane_file.read_text()}")
                print(f"--- {prof.log} (tail) ---\n{tail(prof.log, 80)}")
        finally:
            prof.stop()
