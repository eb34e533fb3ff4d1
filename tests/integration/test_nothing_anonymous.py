"""Nothing on the local stack answers anonymously: an unauthenticated metadata or admin request
fails on every listener, the broker's and the controller's, while the same request with the
listener's credential succeeds (so the refusal is the authentication, not the request)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared.kafka_security import LOCAL_CREDENTIALS
from tests.conftest import ROOT, Stack

pytestmark = pytest.mark.integration

LIBS = ROOT / ".local/kafka/libs"
# Short client timeouts: a refused request must fail, not wait out the tools' minute.
TIMEOUTS = "request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n"


def credential(name: str) -> str:
    for line in LOCAL_CREDENTIALS.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {LOCAL_CREDENTIALS}")


def tool(tmp_path: Path, properties: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A Kafka tool; CONFIG in `args` stands for the client properties' file."""
    config = tmp_path / "client.properties"
    config.write_text(TIMEOUTS + properties)
    java = shutil.which("java") or "java"
    jvm = [java, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Dlog4j2.level=OFF", "-cp", f"{LIBS}/*"]
    done = subprocess.run(
        [*jvm, *(str(config) if arg == "CONFIG" else arg for arg in args)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert "usage:" not in done.stderr.lower(), done.stderr  # refused, not misused
    return done


@pytest.fixture
def listeners(stack: Stack) -> tuple[str, str]:
    if not stack.kafka_credentials or not LIBS.is_dir():
        pytest.skip("not the local SASL stack")
    port = int(stack.kafka_bootstrap.rsplit(":", 1)[1])
    return f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"  # infra/lib.sh: controller one up


ADMIN = (
    "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
    'username="admin" password="{}";\n'
)
CONTROLLER = (
    "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
    "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="controller" password="{}";\n'
)


def test_the_broker_listener_refuses_anonymous_metadata_and_acl_requests(
    listeners: tuple[str, str], tmp_path: Path
) -> None:
    broker, _ = listeners
    for command in ("org.apache.kafka.tools.TopicCommand", "org.apache.kafka.tools.AclCommand"):
        args = [command, "--bootstrap-server", broker, "--command-config", "CONFIG", "--list"]
        assert tool(tmp_path, "", *args).returncode != 0, args
        admin = ADMIN.format(credential("CAREPLAN_KAFKA_ADMIN_PASSWORD"))
        allowed = tool(tmp_path, admin, *args)
        assert allowed.returncode == 0, allowed.stderr[-2000:]


def test_the_controller_listener_refuses_anonymous_quorum_and_acl_requests(
    listeners: tuple[str, str], tmp_path: Path
) -> None:
    _, controller = listeners
    quorum = [
        "org.apache.kafka.tools.MetadataQuorumCommand",
        "--bootstrap-controller",
        controller,
        "--command-config",
        "CONFIG",
        "describe",
        "--status",
    ]
    acls = ["org.apache.kafka.tools.AclCommand", "--bootstrap-controller", controller]
    acls += ["--command-config", "CONFIG", "--list"]
    for args in (quorum, acls):
        refused = tool(tmp_path, "", *args)
        assert refused.returncode != 0, (args, refused.stdout[-500:])
    # The client principals' SCRAM credentials do not open it either.
    admin = ADMIN.format(credential("CAREPLAN_KAFKA_ADMIN_PASSWORD"))
    assert tool(tmp_path, admin, *quorum).returncode != 0
    allowed = tool(
        tmp_path, CONTROLLER.format(credential("CAREPLAN_KAFKA_CONTROLLER_PASSWORD")), *quorum
    )
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "LeaderId" in allowed.stdout


def test_anonymous_is_no_super_user() -> None:
    rendered = (ROOT / ".local/kafka/server.properties").read_text()
    super_users = next(line for line in rendered.splitlines() if line.startswith("super.users="))
    assert "ANONYMOUS" not in super_users
