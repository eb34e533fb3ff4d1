"""`careplan` fails well: fast, in one clear line, with exit 1 for a failure and 2 for wrong
usage, whatever is missing or wrong (credentials, server, option); a traceback only with
--debug. Run as the installed script, against the local stack."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration

CAREPLAN = Path(sys.executable).parent / "careplan"
# The command's own bound is 10 s; beyond its start-up (measured, as the machine may be busy),
# a failure must take no longer than that and some slack. A retry loop never ends.
BOUND = 10.0 + 10.0


def run(*args: str, **env: str) -> tuple[int, str, float]:
    """Exit code, stderr and seconds taken, without the test session's own Kafka identity."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAREPLAN_KAFKA_USER")}
    clean.pop("CAREPLAN_KAFKA_PASSWORD", None)
    started = time.monotonic()
    done = subprocess.run(
        [str(CAREPLAN), *args], env=clean | env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stderr, time.monotonic() - started


@cache
def startup_seconds() -> float:
    """How long the command takes to start and exit (`careplan --help`) on this machine now."""
    return run("--help")[2]


def fast(took: float) -> bool:
    return took < startup_seconds() + BOUND


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sasl_only(stack: Stack) -> None:
    if not stack.kafka_credentials:
        pytest.skip("a PLAINTEXT cluster asks for no credentials")


def one_clear_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("command", [["topics"], ["replay-dead-letters", "repair.assessments.v1"]])
def test_missing_credentials_fail_fast_and_say_so(stack: Stack, command: list[str]) -> None:
    sasl_only(stack)
    code, stderr, took = run(*command, KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap)
    assert code == 1
    assert fast(took)
    one_clear_line(stderr)
    assert "CAREPLAN_KAFKA_USERNAME" in stderr


def test_wrong_credentials_fail_fast_and_say_so(stack: Stack) -> None:
    sasl_only(stack)
    code, stderr, took = run(
        "topics",
        KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap,
        CAREPLAN_KAFKA_USERNAME="warehouse",
        CAREPLAN_KAFKA_PASSWORD="not-its-password",
    )
    assert (code, fast(took)) == (1, True)
    one_clear_line(stderr)
    assert "refused the credentials of 'warehouse'" in stderr


def test_an_unreachable_server_fails_fast() -> None:
    code, stderr, took = run("topics", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    assert (code, fast(took)) == (1, True)
    one_clear_line(stderr)
    assert "unreachable" in stderr


def test_debug_shows_the_traceback() -> None:
    code, stderr, _ = run("--debug", "topics", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    assert code == 1
    assert "Traceback" in stderr


@pytest.mark.parametrize(
    "args",
    [
        ["replay-dead-letters", "repair.assessments.v1", "--limit", "-5"],
        ["replay-dead-letters", "repair.assessments.v1", "--limit", "0"],
        ["replay-dead-letters", "repair.assessments.v1.dlq"],
        ["lookup", "DJI0123456789", "--url", "not-a-url"],
        ["client-properties", "nobody"],
        ["no-such-command"],
    ],
)
def test_a_bad_option_is_a_usage_error(args: list[str]) -> None:
    code, stderr, _ = run(*args)
    assert code == 2, stderr
    assert "Traceback" not in stderr


@pytest.fixture
def not_the_lookup() -> Iterator[str]:
    """An HTTP server that answers 200 with JSON that is not the lookup's answer."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"hello": "world"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None: ...

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_a_wrong_lookup_url_fails_in_one_line(not_the_lookup: str) -> None:
    code, stderr, _ = run("lookup", "DJI0123456789", "--url", not_the_lookup)
    assert code == 1
    one_clear_line(stderr)
    assert "did not answer as the lookup service" in stderr


def test_a_lookup_nobody_serves_fails_in_one_line() -> None:
    code, stderr, took = run("lookup", "DJI0123456789", "--url", f"http://127.0.0.1:{free_port()}")
    assert (code, fast(took)) == (1, True)
    one_clear_line(stderr)


def test_client_properties_name_the_principal_and_its_topics(stack: Stack) -> None:
    done = subprocess.run(
        [str(CAREPLAN), "client-properties", "warehouse"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    properties = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if not line.startswith("#")
    )
    assert properties["bootstrap.servers"] == stack.kafka_bootstrap
    assert properties["sasl.mechanism"] == "SCRAM-SHA-512"
    assert 'username="warehouse"' in properties["sasl.jaas.config"]
    if stack.kafka_credentials:
        assert stack.kafka_credentials["warehouse"] in properties["sasl.jaas.config"]
    assert "# warehouse: writes warehouse.dispatches.v1" in done.stdout
