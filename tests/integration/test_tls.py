"""TLS on the client listeners (SASL_SSL; on in the cluster mode, CAREPLAN_KAFKA_TLS=1 on the
single node): a client that verifies the brokers with the stack's own CA is served; one that
speaks plaintext to them is refused, and one that trusts another CA fails, each with an error
that says which, from the command line as from the library."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.kafka_security import KafkaAccessError, check_access
from shared.settings import ServiceSettings
from tests.conftest import ROOT, Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not ServiceSettings().kafka_tls,
        reason="the stack's listeners are SASL_PLAINTEXT (CAREPLAN_KAFKA_TLS=1 or"
        " CAREPLAN_KAFKA_BROKERS=3 turns TLS on)",
    ),
]


def administrator(stack: Stack, **changes: object) -> ServiceSettings:
    settings = ServiceSettings(
        kafka_username="admin", kafka_password=stack.kafka_credentials["admin"]
    )
    return settings.model_copy(update=changes)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that signed none of the brokers' certificates (made as infra/kafka/tls.sh does)."""
    folder = tmp_path_factory.mktemp("other-ca")
    keytool = f"{os.environ['JAVA_HOME']}/bin/keytool" if "JAVA_HOME" in os.environ else "keytool"
    store = ["-keystore", str(folder / "ca.p12"), "-storetype", "PKCS12", "-storepass", "secret"]
    subprocess.run(
        [
            keytool,
            "-genkeypair",
            "-alias",
            "ca",
            "-dname",
            "CN=someone else's CA",
            "-keyalg",
            "RSA",
            *store,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [keytool, "-exportcert", "-rfc", "-alias", "ca", "-file", str(folder / "ca.crt"), *store],
        check=True,
        capture_output=True,
    )
    return folder / "ca.crt"


async def test_a_client_verifying_the_stacks_ca_is_served(stack: Stack) -> None:
    settings = administrator(stack)
    assert settings.kafka_ca_file is not None and settings.kafka_ca_file.is_relative_to(
        ROOT / ".local"
    )
    await check_access(settings)


async def test_a_plaintext_client_is_refused(stack: Stack) -> None:
    with pytest.raises(KafkaAccessError, match=r"closed the connection as 'admin'.*SASL_PLAINTEXT"):
        await check_access(administrator(stack, kafka_tls=False))


async def test_a_client_trusting_another_ca_fails_naming_the_certificate(
    stack: Stack, other_ca: Path
) -> None:
    with pytest.raises(
        KafkaAccessError, match=re.escape(f"does not verify against the CA in {other_ca}")
    ) as failure:
        await check_access(administrator(stack, kafka_ca_file=other_ca))
    assert "certificate" in str(failure.value)


def careplan_topics(stack: Stack, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "careplan"), "topics"],
        env=os.environ
        | {
            "CAREPLAN_KAFKA_USERNAME": "admin",
            "CAREPLAN_KAFKA_PASSWORD": stack.kafka_credentials["admin"],
        }
        | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_says_why_it_cannot_connect(stack: Stack, other_ca: Path) -> None:
    plaintext = careplan_topics(stack, CAREPLAN_KAFKA_TLS="false")
    assert plaintext.returncode != 0
    assert "closed the connection" in plaintext.stderr, plaintext.stderr[-2000:]
    wrong_ca = careplan_topics(stack, CAREPLAN_KAFKA_CA_FILE=str(other_ca))
    assert wrong_ca.returncode != 0
    assert "does not verify against the CA" in wrong_ca.stderr, wrong_ca.stderr[-2000:]
    served = careplan_topics(stack)
    assert served.returncode == 0, served.stderr[-2000:]
