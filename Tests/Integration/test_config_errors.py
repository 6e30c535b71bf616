"""Configuration mistakes end a process with a clear message and a non-zero exit, never a crash
(a Swift trap would show as a signal, i.e. a negative return code here, or a "Fatal error")."""

from __future__ import annotations

import copy
import json
import socket

import pytest

from conftest import BIN, HOST, SECRET, exe, run_cmd

CRASH_MARKERS = ("Fatal error", "Stack dump", "Segmentation fault", "Illegal instruction", "Current stack trace",
                 "Trace/breakpoint trap", "Aborted")


def assert_clean_error(result, *needles):
    text = result.stderr + result.stdout
    assert result.returncode > 0, f"expected a non-zero exit (not a signal), got {result.returncode}:\n{text}"
    for marker in CRASH_MARKERS:
        assert marker not in text, f"looks like a crash ({marker!r}):\n{text}"
    assert text.strip(), "no message at all"
    for needle in needles:
        assert needle in text, f"the message should mention {needle!r}:\n{text}"
    return text


@pytest.fixture
def layout(ports):
    """A valid cluster document (nothing is started from it) and a writer for variants."""
    p = ports.take(12)
    doc = {
        "cluster": "itest", "domain": "itest.local", "secret": SECRET,
        "seeds": [f"{HOST}:{p[0]}", f"{HOST}:{p[1]}"],
        "nodes": [
            {"name": "topology-1", "role": "topology", "etunnel": f"{HOST}:{p[0]}", "http": f"{HOST}:{p[2]}"},
            {"name": "topology-2", "role": "topology", "etunnel": f"{HOST}:{p[1]}", "http": f"{HOST}:{p[3]}"},
            {"name": "frontend-1", "role": "frontend", "etunnel": f"{HOST}:{p[4]}", "http": f"{HOST}:{p[5]}", "xmpp": f"{HOST}:{p[6]}"},
            {"name": "router-1", "role": "router", "etunnel": f"{HOST}:{p[7]}", "http": f"{HOST}:{p[8]}"},
            {"name": "router-2", "role": "router", "etunnel": f"{HOST}:{p[9]}", "http": f"{HOST}:{p[10]}"},
        ],
    }
    return doc


def write(tmp_path, doc, name="cluster.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


def node(role, *args):
    return run_cmd([exe(f"mmgs-{role}"), *map(str, args)], timeout=15)


# --- unknown keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("where,key", [("top", "sekret"), ("node", "etunel"), ("membership", "probe_ms")])
def test_unknown_key_is_named(tmp_path, layout, where, key):
    doc = copy.deepcopy(layout)
    if where == "top":
        doc[key] = "x"
    elif where == "node":
        doc["nodes"][3][key] = "127.0.0.1:1"
    else:
        doc["membership"] = {"probe_interval_ms": 200, key: 5}
    path = write(tmp_path, doc)
    assert_clean_error(node("router", "--config", path, "--name", "router-1"), f'"{key}"', "unknown key")
    # The launcher and mmgsctl read the same file and refuse it the same way.
    assert_clean_error(run_cmd([exe("mmgs"), "run", path, "--bin", str(BIN), "--logs", str(tmp_path / "logs")], timeout=15),
                       f'"{key}"')
    assert_clean_error(run_cmd([exe("mmgsctl"), "topology", "--cluster", path], timeout=15), f'"{key}"')


def test_invalid_json(tmp_path):
    path = write(tmp_path, '{"secret": "0123456789abcdef0123", "seeds": [')
    assert_clean_error(node("router", "--config", path, "--name", "router-1"), "not valid JSON")


# --- bad HOST:PORT --------------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("etunnel", "127.0.0.1"), ("http", "127.0.0.1:70000"), ("etunnel", ":7301"), ("http", "127.0.0.1:http"),
])
def test_bad_host_port_in_file(tmp_path, layout, field, value):
    doc = copy.deepcopy(layout)
    doc["nodes"][3][field] = value
    path = write(tmp_path, doc)
    assert_clean_error(node("router", "--config", path, "--name", "router-1"), f"'{value}'", field)


def test_bad_seed_in_file(tmp_path, layout):
    doc = copy.deepcopy(layout)
    doc["seeds"] = [doc["seeds"][0], "topology-2"]
    path = write(tmp_path, doc)
    assert_clean_error(node("router", "--config", path, "--name", "router-1"), "'topology-2'", "seeds", "HOST:PORT")


def test_bad_host_port_on_command_line(ports):
    e, h = ports.take(2)
    base = ["--name", "router-9", "--secret", SECRET, "--seeds", f"{HOST}:{e}"]
    assert_clean_error(node("router", *base, "--etunnel", "localhost", "--http", f"{HOST}:{h}"), "'localhost'", "HOST:PORT")
    assert_clean_error(node("router", *base, "--etunnel", f"{HOST}:{e}", "--http", f"{HOST}:99999"), "'127.0.0.1:99999'")
    assert_clean_error(node("router", "--name", "router-9", "--secret", SECRET, "--seeds", "nowhere",
                            "--etunnel", f"{HOST}:{e}", "--http", f"{HOST}:{h}"), "'nowhere'", "seeds")
    assert_clean_error(run_cmd([exe("mmgsctl"), "topology", "--seed", "nowhere", "--secret", SECRET], timeout=15),
                       "'nowhere'", "HOST:PORT")


def test_port_already_in_use(ports):
    """A taken port is an error message, not a crash (and not a node that runs half-bound)."""
    e, h = ports.take(2)
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        base = ["--name", "router-9", "--secret", SECRET, "--seeds", f"{HOST}:{e}"]
        assert_clean_error(node("router", *base, "--etunnel", f"{HOST}:{port}", "--http", f"{HOST}:{h}"),
                           f"{HOST}:{port}", "eTunnel", "in use")
        assert_clean_error(node("router", *base, "--etunnel", f"{HOST}:{e}", "--http", f"{HOST}:{port}"),
                           f"{HOST}:{port}", "HTTP", "in use")


# --- secret ---------------------------------------------------------------------------------


def test_short_secret(tmp_path, layout):
    doc = copy.deepcopy(layout)
    doc["secret"] = "too-short"
    path = write(tmp_path, doc)
    assert_clean_error(node("router", "--config", path, "--name", "router-1"), "9 bytes", "at least 16")
    # On the command line too (it overrides the file).
    assert_clean_error(node("router", "--config", write(tmp_path, layout, "ok.json"), "--name", "router-1",
                            "--secret", "abc"), "3 bytes", "at least 16")


# --- which node -----------------------------------------------------------------------------


def test_unknown_name_lists_the_known_nodes(tmp_path, layout):
    path = write(tmp_path, layout)
    text = assert_clean_error(node("router", "--config", path, "--name", "router-7"), "'router-7'", "router-1", "router-2")
    assert "not in the cluster file" in text, text


def test_several_nodes_of_the_role_and_no_name(tmp_path, layout):
    path = write(tmp_path, layout)
    assert_clean_error(node("router", "--config", path), "--name", "router-1", "router-2")


@pytest.mark.parametrize("binary,name,right", [
    ("router", "frontend-1", "mmgs-frontend"), ("frontend", "topology-1", "mmgs-topology"),
    ("topology", "router-2", "mmgs-router"), ("transport", "router-1", "mmgs-router"),
])
def test_wrong_executable_for_the_role(tmp_path, layout, binary, name, right):
    path = write(tmp_path, layout)
    assert_clean_error(node(binary, "--config", path, "--name", name), f"'{name}'", right)


def test_missing_file(tmp_path):
    missing = str(tmp_path / "no-such-cluster.json")
    assert_clean_error(node("router", "--config", missing, "--name", "router-1"), missing, "cannot read")
    assert_clean_error(run_cmd([exe("mmgs"), "run", missing, "--bin", str(BIN), "--logs", str(tmp_path / "logs")], timeout=15),
                       missing)
    assert_clean_error(run_cmd([exe("mmgsctl"), "topology", "--cluster", missing], timeout=15), missing)


def test_front_end_without_device_address(ports):
    e, h, s = ports.take(3)
    assert_clean_error(node("frontend", "--name", "frontend-9", "--secret", SECRET, "--seeds", f"{HOST}:{s}",
                            "--etunnel", f"{HOST}:{e}", "--http", f"{HOST}:{h}"), "xmpp")


def test_bad_log_level(tmp_path, layout):
    path = write(tmp_path, layout)
    assert_clean_error(node("router", "--config", path, "--name", "router-1", "--log-level", "loud"), "'loud'", "info")


# --- mmgsctl with nobody to talk to ---------------------------------------------------------


def test_ctl_path_with_no_reachable_manager(tmp_path, layout, ports):
    # Nothing listens on the file's seeds.
    path = write(tmp_path, layout)
    text = assert_clean_error(run_cmd([exe("mmgsctl"), "path", "alice@itest.local", "--cluster", path], timeout=30),
                              "no topology manager answered", *layout["seeds"])
    # Same with explicit --seed flags.
    a, b = ports.take(2)
    seeds = [f"{HOST}:{a}", f"{HOST}:{b}"]
    text = assert_clean_error(run_cmd([exe("mmgsctl"), "path", "alice@itest.local", "--json", "--seed", seeds[0],
                                       "--seed", seeds[1], "--secret", SECRET], timeout=30), *seeds)
    # A seed that accepts connections but never speaks eTunnel: bounded by the call timeout.
    with socket.socket() as mute:
        mute.bind((HOST, 0))
        mute.listen()
        seed = f"{HOST}:{mute.getsockname()[1]}"
        assert_clean_error(run_cmd([exe("mmgsctl"), "path", "alice@itest.local", "--seed", seed, "--secret", SECRET],
                                   timeout=30), seed)
