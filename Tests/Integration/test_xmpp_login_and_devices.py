"""Devices log in with real XMPP clients (slixmpp) over plain TCP: SCRAM-SHA-256, SCRAM-SHA-1
and PLAIN (allowed by the cluster file), refused with a wrong password, as an unknown device,
as a disabled device; a device disabled or removed while logged in is disconnected. And the
`mmgsctl device` commands that provision them."""

from __future__ import annotations

import asyncio
import json

from conftest import SECRET, XMPPDevices, ctl, run_async

CRASH_MARKERS = ("Fatal error", "Program crashed", "Backtrace", "Segmentation fault")


def assert_clean_failure(result, *needles):
    text = result.stderr + result.stdout
    assert result.returncode > 0, f"expected a non-zero exit (not a signal), got {result.returncode}:\n{text}"
    for marker in CRASH_MARKERS:
        assert marker not in text, f"looks like a crash ({marker!r}):\n{text}"
    for needle in needles:
        assert needle in text, f"the message should mention {needle!r}:\n{text}"
    return text


# --- logins ---------------------------------------------------------------------------------


def test_login_with_each_sasl_mechanism(xmpp_cluster):
    c = xmpp_cluster
    jid = c.add_device("mech", "mech-secret-1")

    async def scenario():
        async with XMPPDevices() as xs:
            for index, (mechanism, plain) in enumerate([("SCRAM-SHA-256", False), ("SCRAM-SHA-1", False), ("PLAIN", True)]):
                port = c.xmpp_port(f"frontend-{index % 2 + 1}")
                d = xs.new(f"{jid}/{mechanism}", "mech-secret-1", port, mechanism=mechanism, plain=plain)
                await d.login(presence=True)
                assert d.c.plugin["feature_mechanisms"].mech.name == mechanism
                assert d.full == f"{jid}/{mechanism}", f"bound {d.full}"
                # The stream works: ping the server.
                answer = await d.iq(c.domain, "<ping xmlns='urn:xmpp:ping'/>")
                assert answer["type"] == "result", str(answer)
                await d.close()
                assert not d.stream_errors, d.stream_errors

    run_async(scenario(), 40)


def test_login_without_resource_gets_a_generated_one(xmpp_cluster):
    c = xmpp_cluster
    jid = c.add_device("noresource", "nr-pw")

    async def scenario():
        async with XMPPDevices() as xs:
            d = await xs.login(jid, "nr-pw", c.xmpp_port("frontend-1"))
            assert d.bare == jid
            assert d.c.boundjid.resource, f"no resource bound: {d.full}"

    run_async(scenario(), 20)


def test_refused_logins_reach_the_client(xmpp_cluster):
    c = xmpp_cluster
    jid = c.add_device("refused", "right-password")
    c.add_device("sleeper", "sleeper-pw")
    c.device_ok("disable", "sleeper")

    async def scenario():
        async with XMPPDevices() as xs:
            port = c.xmpp_port("frontend-1")
            cases = [
                ("wrong password, SCRAM-SHA-256", jid, "wrong-password", "SCRAM-SHA-256", False, "not-authorized"),
                ("wrong password, SCRAM-SHA-1", jid, "wrong-password", "SCRAM-SHA-1", False, "not-authorized"),
                ("wrong password, PLAIN", jid, "wrong-password", "PLAIN", True, "not-authorized"),
                ("unknown device, SCRAM-SHA-256", f"ghost@{c.domain}", "whatever", "SCRAM-SHA-256", False, "not-authorized"),
                ("unknown device, PLAIN", f"ghost@{c.domain}", "whatever", "PLAIN", True, "not-authorized"),
                ("disabled device, SCRAM-SHA-256", f"sleeper@{c.domain}", "sleeper-pw", "SCRAM-SHA-256", False, "account-disabled"),
                ("disabled device, PLAIN", f"sleeper@{c.domain}", "sleeper-pw", "PLAIN", True, "account-disabled"),
            ]
            for label, who, password, mechanism, plain, condition in cases:
                d = xs.new(f"{who}/x", password, port, mechanism=mechanism, plain=plain, label=label)
                failures = await d.login_fails()
                assert failures[:1] == [condition], f"{label}: SASL failure {failures}, expected {condition}"
                await d.close()
            # Every mechanism tried and refused: after the third failure the stream ends with
            # policy-violation. (Another account: the failed-login back-off of `refused`, after
            # its three failures above, would take 2 + 4 + 8 s.)
            again = c.add_device("refused-again", "right-password")
            d = xs.new(f"{again}/x", "wrong-password", port, plain=True, label="all mechanisms, wrong password")
            await d.login_fails()
            await d.wait_gone()
            assert d.auth_failures == ["not-authorized"] * 3, d.auth_failures
            assert [cond for cond, _ in d.stream_errors] == ["policy-violation"], d.stream_errors
            # The right password still works after the failures (only failures wait).
            await xs.login(f"{jid}/ok", "right-password", port)
            await xs.login(f"{again}/ok", "right-password", port)

    run_async(scenario(), 60)


def test_device_disabled_or_removed_while_logged_in_is_disconnected(xmpp_cluster):
    c = xmpp_cluster
    jid = c.add_device("kicked", "kicked-pw")
    removed = c.add_device("removed", "removed-pw")

    async def scenario():
        async with XMPPDevices() as xs:
            d1 = await xs.login(f"{jid}/one", "kicked-pw", c.xmpp_port("frontend-1"))
            d2 = await xs.login(f"{jid}/two", "kicked-pw", c.xmpp_port("frontend-2"))
            await asyncio.to_thread(c.device_ok, "disable", "kicked")
            for d in (d1, d2):
                await d.wait_gone()
                conditions = [cond for cond, _ in d.stream_errors]
                assert conditions and conditions[0] in ("policy-violation", "not-authorized"), (
                    f"{d.label}: stream errors {d.stream_errors}")
            refused = xs.new(f"{jid}/three", "kicked-pw", c.xmpp_port("frontend-1"))
            assert (await refused.login_fails())[:1] == ["account-disabled"]
            await refused.close()

            await asyncio.to_thread(c.device_ok, "enable", "kicked")
            await xs.login(f"{jid}/four", "kicked-pw", c.xmpp_port("frontend-2"))

            r = await xs.login(f"{removed}/one", "removed-pw", c.xmpp_port("frontend-2"))
            await asyncio.to_thread(c.device_ok, "remove", "removed")
            await r.wait_gone()
            assert r.stream_errors, "removed device's stream ended without a stream error"
            again = xs.new(f"{removed}/two", "removed-pw", c.xmpp_port("frontend-1"))
            assert (await again.login_fails())[:1] == ["not-authorized"]

    run_async(scenario(), 60)


# --- mmgsctl device -------------------------------------------------------------------------


def test_mmgsctl_device_commands(xmpp_cluster):
    c = xmpp_cluster
    out = c.device_ok("add", "ctl-a", "--password", "pw-a-1", "--imei", "356938035643809", "--imsi", "208011234567890",
                      "--operator", "Orange", "--profile", "fleet")
    assert f"ctl-a@{c.domain}" in out, out
    c.device_ok("add", "ctl-b", "--password", "pw-b-1")

    # Duplicate: a clear error, non-zero exit, and the device is unchanged.
    assert_clean_failure(c.device("add", "ctl-a", "--password", "other"), "already exists", f"ctl-a@{c.domain}")

    # list --json: both, with their fields.
    listed = {d["jid"]: d for d in json.loads(c.device_ok("list", "--json"))}
    a, b = listed.get(f"ctl-a@{c.domain}"), listed.get(f"ctl-b@{c.domain}")
    assert a and b, f"list --json lacks ctl-a or ctl-b: {sorted(listed)}"
    assert a == {"jid": f"ctl-a@{c.domain}", "status": "enabled", "imei": "356938035643809", "imsi": "208011234567890",
                 "operator": "Orange", "profile": "fleet"}, a
    assert b == {"jid": f"ctl-b@{c.domain}", "status": "enabled", "imei": None, "imsi": None, "operator": None,
                 "profile": None}, b
    plain_list = c.device_ok("list")
    assert f"ctl-a@{c.domain}" in plain_list and f"ctl-b@{c.domain}" in plain_list, plain_list

    # show, through the cluster file and through a seed + secret + --domain.
    shown = c.device_ok("show", "ctl-a")
    for needle in (f"ctl-a@{c.domain}", "enabled", "356938035643809", "208011234567890", "Orange", "fleet"):
        assert needle in shown, f"show lacks {needle!r}:\n{shown}"
    seed = c.managers()[0].etunnel_addr
    via_seed = ctl("device", "show", "ctl-a", "--seed", seed, "--secret", SECRET, "--domain", c.domain)
    assert via_seed.returncode == 0 and f"ctl-a@{c.domain}" in via_seed.stdout, via_seed.stderr + via_seed.stdout
    assert_clean_failure(c.device("show", "ctl-nobody"), f"ctl-nobody@{c.domain}")

    # Disable / enable show in the listing.
    c.device_ok("disable", "ctl-b")
    assert {d["jid"]: d for d in json.loads(c.device_ok("list", "--json"))}[f"ctl-b@{c.domain}"]["status"] == "disabled"
    c.device_ok("enable", "ctl-b")
    assert "enabled" in c.device_ok("show", "ctl-b")

    # passwd: the old password fails, the new one works (SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN).
    c.device_ok("passwd", "ctl-a", "--password", "pw-a-2")

    async def passwords():
        async with XMPPDevices() as xs:
            port = c.xmpp_port("frontend-2")
            for mechanism, plain in [("SCRAM-SHA-256", False), ("SCRAM-SHA-1", False), ("PLAIN", True)]:
                old = xs.new(f"ctl-a@{c.domain}/old", "pw-a-1", port, mechanism=mechanism, plain=plain)
                assert (await old.login_fails())[:1] == ["not-authorized"], mechanism
                await old.close()
                new = await xs.login(f"ctl-a@{c.domain}/{mechanism}", "pw-a-2", port, mechanism=mechanism, plain=plain)
                await new.close()

    run_async(passwords(), 40)

    # The other fields survive a password change.
    assert "356938035643809" in c.device_ok("show", "ctl-a")

    # remove: the login fails afterwards, the device is gone from list and show.
    c.device_ok("remove", "ctl-b")

    async def removed():
        async with XMPPDevices() as xs:
            d = xs.new(f"ctl-b@{c.domain}/x", "pw-b-1", c.xmpp_port("frontend-1"))
            assert (await d.login_fails())[:1] == ["not-authorized"]

    run_async(removed(), 20)
    assert f"ctl-b@{c.domain}" not in {d["jid"] for d in json.loads(c.device_ok("list", "--json"))}
    assert_clean_failure(c.device("show", "ctl-b"), f"ctl-b@{c.domain}")
    assert_clean_failure(c.device("remove", "ctl-b"), f"ctl-b@{c.domain}")

    # Invalid ids: a clear error, nothing provisioned.
    for command in (["add", "bad id", "--password", "x"], ["show", "bad id"], ["passwd", "bad id", "--password", "x"],
                    ["remove", "bad id"], ["add", "a@b", "--password", "x"]):
        text = assert_clean_failure(c.device(*command))
        assert "not a valid device id" in text, f"mmgsctl device {command}: {text}"
    assert not [d for d in json.loads(c.device_ok("list", "--json")) if d["jid"].startswith("bad")]

    # A password is required.
    assert_clean_failure(c.device("add", "ctl-c"), "password")


def test_removed_device_leaves_no_roster_or_offline_messages(xmpp_cluster):
    """`mmgsctl device remove` removes "a device, its roster and its offline messages": the same
    id provisioned again starts empty."""
    c = xmpp_cluster
    c.add_device("reborn", "pw-1")
    writer = c.add_device("reborn-writer", "pw")
    jid = f"reborn@{c.domain}"

    async def before():
        async with XMPPDevices() as xs:
            d = await xs.login(f"{jid}/one", "pw-1", c.xmpp_port("frontend-1"))
            await d.roster_set(f"old-friend@{c.domain}", name="Old friend", groups=["Past"])
            assert f"old-friend@{c.domain}" in await d.roster()
            await d.close()
            w = await xs.login(f"{writer}/one", "pw", c.xmpp_port("frontend-2"))
            w.send_chat(jid, "for the old device")
            await w.roster()

    run_async(before(), 30)
    c.device_ok("remove", "reborn")
    c.device_ok("add", "reborn", "--password", "pw-2")

    async def after():
        async with XMPPDevices() as xs:
            d = await xs.login(f"{jid}/two", "pw-2", c.xmpp_port("frontend-2"))
            roster = await d.roster()
            w = await xs.login(f"{writer}/two", "pw", c.xmpp_port("frontend-1"))
            w.send_chat(d.full, "marker")
            got = []
            while True:
                msg = await d.next_message(what="the marker")
                if msg["body"] == "marker":
                    break
                got.append(msg["body"])
            assert not got, f"the re-provisioned device got the removed one's offline messages: {got}"
            assert roster == {}, f"the re-provisioned device has the removed one's roster: {roster}"

    run_async(after(), 30)
