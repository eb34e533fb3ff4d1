"""docker-compose.yml runs Kafka as the local stack does: SASL/SCRAM over TLS on every client
listener, nothing allowed that no ACL allows, each service its own principal with the ACLs of
infra/kafka/acls.txt, every client verifying the broker's certificate, and no credential written
in the file. docker-compose.cluster.yml makes it the local cluster's three nodes, with the
settings of infra/kafka/cluster.properties.

The file is read, not run: no Docker engine is needed.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from careplan.acls import ACL_FILE
from careplan.registry import INTEGRATORS
from tests.contract.test_cluster_config import properties

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLUSTER_FILE = ROOT / "docker-compose.cluster.yml"
CLUSTER_NODE_CONFIG = ROOT / "infra/kafka/cluster.properties"
CLUSTER_NODES = ("kafka", "kafka-2", "kafka-3")
# Where credentials.sh puts the CA and the brokers' certificates, and where containers see them.
TLS_SOURCE = "./.local/compose-tls"
TLS_MOUNT = "/etc/careplan/tls"
LOCAL_BROKER_CONFIG = ROOT / "infra/kafka/server.properties"
CREDENTIALS_SCRIPT = ROOT / "infra/compose/credentials.sh"
KAFKA_START_SCRIPT = ROOT / "infra/compose/kafka-start.sh"
KAFKA_INIT_SCRIPT = ROOT / "infra/compose/kafka-init.sh"
ACLS = ROOT / ACL_FILE

# `${NAME:?message}`: compose refuses to start without NAME instead of passing an empty value.
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]+\}")
# Environment variables of the apache/kafka image that are not broker properties.
IMAGE_SETTINGS = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}


# --- The compose file ---------------------------------------------------------------------------


def compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def merged(base: Any, override: Any) -> Any:
    """What compose makes of a service from two files, for what these files use: mappings
    merged key by key (environment, depends_on), anything else the override's."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {
            key: merged(base.get(key), override.get(key, base.get(key))) for key in base | override
        }
    return override


def services(cluster: bool = False) -> dict[str, dict[str, Any]]:
    """The services of docker-compose.yml, or of it with docker-compose.cluster.yml added."""
    found = compose()["services"]
    if cluster:
        found = merged(found, compose(CLUSTER_FILE)["services"])
    assert isinstance(found, dict)
    return found


def environment(service: str, cluster: bool = False) -> dict[str, str]:
    env = services(cluster)[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment as a mapping, not a list"
    return {name: str(value) for name, value in env.items()}


def application_services() -> dict[str, dict[str, Any]]:
    """The services running `python -m services.<name>`, by name."""
    found = {}
    for name, service in services().items():
        command = service.get("command") or []
        if command[:2] == ["python", "-m"] and command[2].startswith("services."):
            assert command[2] == f"services.{name}", f"{name} runs {command[2]}"
            found[name] = service
    return found


def acl_principals() -> set[str]:
    lines = ACLS.read_text().splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def password_variable(principal: str) -> str:
    """The variable infra/kafka/provision.sh and infra/compose/credentials.sh name."""
    return "CAREPLAN_KAFKA_PASSWORD_" + principal.upper().replace("-", "_")


def required_variable(value: str) -> str | None:
    """The variable NAME when the value is exactly `${NAME:?message}`."""
    match = REQUIRED_VARIABLE.fullmatch(value)
    return match["name"] if match else None


def broker_config(node: str = "kafka", cluster: bool = False) -> dict[str, str]:
    """The broker's properties as the apache/kafka image renders them from KAFKA_* variables:
    `_` is `.`, `__` is `_` and `___` is `-`."""
    config = {}
    for name, value in environment(node, cluster).items():
        if name.startswith("KAFKA_") and name not in IMAGE_SETTINGS:
            key = name.removeprefix("KAFKA_").lower().replace("_", ".")
            config[key.replace("...", "-").replace("..", "_")] = value
    return config


def listeners(config: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """(name, host, port) of each listener the broker binds."""
    for listener in config["listeners"].split(","):
        name, _, address = listener.partition("://")
        host, _, port = address.rpartition(":")
        yield name, host, port


def mounts(service: str, cluster: bool = False) -> dict[str, str]:
    """Container path -> host path of the service's bind mounts."""
    found = {}
    for volume in services(cluster)[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = source
    return found


# --- Authentication ------------------------------------------------------------------------------


def test_every_client_listener_authenticates_with_scram() -> None:
    config = broker_config()
    protocols = dict(
        entry.split(":") for entry in config["listener.security.protocol.map"].split(",")
    )
    controller = set(config["controller.listener.names"].split(","))
    assert config["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert config["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    for name, host, _ in listeners(config):
        if name in controller:
            # It authenticates too (SASL/PLAIN, the node's own principal), on loopback only.
            assert protocols[name] == "SASL_PLAINTEXT"
            assert config[f"listener.name.{name.lower()}.sasl.enabled.mechanisms"] == "PLAIN"
            jaas = config[f"listener.name.{name.lower()}.plain.sasl.jaas.config"]
            assert 'username="controller"' in jaas
            assert required_variable(jaas.split('password="')[1].split('"')[0])
            assert host == "127.0.0.1", f"controller listener {name} bound to {host!r}"
        else:
            assert protocols[name] == "SASL_SSL", f"listener {name} is {protocols[name]}"
            jaas = config[f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config"]
            assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule ")
            # The image's start script demands a JAAS file in KAFKA_OPTS, or key stores of its
            # own layout, for such names.
            assert "SASL_" not in name and "SSL" not in name
    assert config["inter.broker.listener.name"] not in controller
    for voter in config["controller.quorum.voters"].split(","):
        assert voter.split("@")[1].startswith("127.0.0.1:"), voter


def secret(value: str) -> str:
    """A value with its secrets blanked: `${NAME:?...}` here, `@NAME@` in a node template."""
    return re.sub(r"@[A-Z_]+@", "<secret>", REQUIRED_VARIABLE.sub("<secret>", value))


def cluster_node_config(node_id: int) -> dict[str, str]:
    """infra/kafka/cluster.properties for node `node_id`, its secrets blanked."""
    config = properties(CLUSTER_NODE_CONFIG)
    return {key: secret(value.replace("@NODE_ID@", str(node_id))) for key, value in config.items()}


def certificates_of(node: str, cluster: bool = False) -> Path:
    """The host folder mounted where the node's ssl.* settings point, relative to the root."""
    config = broker_config(node, cluster)
    folder = mounts(node, cluster)[TLS_MOUNT]
    for key in ("ssl.keystore.location", "ssl.truststore.location"):
        assert config[key].startswith(f"{TLS_MOUNT}/"), key
    return Path(folder)


def test_the_broker_speaks_tls_with_the_certificates_credentials_sh_makes() -> None:
    config, template = broker_config(), cluster_node_config(1)
    assert certificates_of("kafka") == Path(TLS_SOURCE)
    assert config["ssl.keystore.location"] == f"{TLS_MOUNT}/node-1.p12"
    assert config["ssl.truststore.location"] == f"{TLS_MOUNT}/truststore.p12"
    for key in template:
        if key.startswith("ssl.") and not key.endswith(".location"):
            assert secret(config[key]) == template[key], key
    # The certificates name kafka-<i> (infra/kafka/tls.sh): the single broker is node 1.
    assert services()["kafka"]["networks"]["default"]["aliases"] == ["kafka-1"]
    internal = config["advertised.listeners"].split(",")[0]
    assert internal == f"{config['inter.broker.listener.name']}://kafka-1:9092"


def test_every_client_verifies_the_broker_against_the_stacks_ca() -> None:
    for name in [*application_services(), "topics"]:
        env = environment(name)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-1:9092", name
        assert env["CAREPLAN_KAFKA_TLS"] == "1", name
        assert mounts(name)[env["CAREPLAN_KAFKA_CA_FILE"]] == f"{TLS_SOURCE}/ca.crt", name
    init = environment("kafka-init")
    assert mounts("kafka-init")[TLS_MOUNT] == TLS_SOURCE
    assert init["CAREPLAN_KAFKA_TRUSTSTORE"] == f"{TLS_MOUNT}/truststore.p12"
    for script in (KAFKA_INIT_SCRIPT, KAFKA_START_SCRIPT):
        assert "security.protocol=SASL_SSL" in script.read_text(), script.name
        assert "security.protocol=SASL_PLAINTEXT" not in script.read_text(), script.name


def test_nothing_is_allowed_that_no_acl_allows() -> None:
    config = broker_config()
    assert config["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert config["allow.everyone.if.no.acl.found"] == "false"
    assert set(config["super.users"].split(";")) == {"User:admin", "User:controller"}


def test_the_broker_is_secured_and_behaves_as_the_local_one() -> None:
    compose_config, local_config = broker_config(), properties(LOCAL_BROKER_CONFIG)
    for key in (
        "authorizer.class.name",
        "allow.everyone.if.no.acl.found",
        "super.users",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
        "controller.listener.names",
        "sasl.mechanism.controller.protocol",
        "listener.name.controller.sasl.enabled.mechanisms",
        "num.partitions",
        "auto.create.topics.enable",
    ):
        assert compose_config.get(key) == local_config[key], key


def test_the_broker_formats_its_storage_with_the_administrators_credential() -> None:
    kafka = services()["kafka"]
    script = mounts("kafka")[kafka["entrypoint"][-1]]
    assert (ROOT / script).resolve() == KAFKA_START_SCRIPT
    assert kafka["command"] == ["/etc/kafka/docker/run"], "the image's own start, after it"
    env = environment("kafka")
    assert required_variable(env["CAREPLAN_KAFKA_ADMIN_PASSWORD"]) == (
        "CAREPLAN_KAFKA_ADMIN_PASSWORD"
    )
    needed = set(re.findall(r"\$\{([A-Z_]+):\?", KAFKA_START_SCRIPT.read_text()))
    assert needed - env.keys() == set(), "variables kafka-start.sh requires"
    # Its healthcheck is a client like any other.
    assert "--command-config" in " ".join(kafka["healthcheck"]["test"])


# --- Principals and credentials ----------------------------------------------------------------


def test_each_service_is_its_own_principal_of_the_acl_file() -> None:
    usernames = {}
    for name in application_services():
        env = environment(name)
        usernames[name] = env.get("CAREPLAN_KAFKA_USERNAME")
        assert usernames[name] == name, "named after the service, as in the local stack"
        assert required_variable(env.get("CAREPLAN_KAFKA_PASSWORD", "")) == (
            password_variable(name)
        ), f"{name}: its own password, from the environment"
    assert usernames, "no application service found"
    assert len(set(usernames.values())) == len(usernames), "a principal shared by services"
    assert set(usernames.values()) <= acl_principals(), "principals without any ACL"
    integrators = {integrator.principal for integrator in INTEGRATORS}
    assert acl_principals() - integrators <= set(usernames.values()), "unused principals"
    assert integrators <= acl_principals(), "an outside system without its ACLs"


def test_no_kafka_credential_is_written_in_the_file() -> None:
    for name, service in services().items():
        for variable, value in environment(name).items():
            if "KAFKA" not in variable:
                continue
            if "PASSWORD" in variable:
                assert required_variable(value), f"{name}: {variable} is not ${{...:?...}}"
            for password in re.findall(r'password="([^"]*)"', value):
                assert required_variable(password), f"{name}: a password in {variable}"
        assert "password" not in json.dumps(service.get("command", [])).lower()


def test_kafka_init_gives_every_principal_its_credential_and_acls() -> None:
    init = services()["kafka-init"]
    env = environment("kafka-init")
    mounted = mounts("kafka-init")
    assert (ROOT / mounted[env["CAREPLAN_ACL_FILE"]]).resolve() == ACLS
    script = mounted[init["entrypoint"][-1]]
    assert (ROOT / script).resolve() == KAFKA_INIT_SCRIPT
    assert init["image"] == services()["kafka"]["image"], "its tools match the broker"
    for principal in acl_principals():
        assert required_variable(env[password_variable(principal)]) == (
            password_variable(principal)
        )
    assert required_variable(env["CAREPLAN_KAFKA_ADMIN_PASSWORD"]) == (
        "CAREPLAN_KAFKA_ADMIN_PASSWORD"
    )
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_topics_are_created_by_the_administrator() -> None:
    env = environment("topics")
    assert services()["topics"]["command"] == ["careplan", "topics"]
    assert env["CAREPLAN_KAFKA_USERNAME"] == "admin"
    assert required_variable(env["CAREPLAN_KAFKA_PASSWORD"]) == "CAREPLAN_KAFKA_ADMIN_PASSWORD"


def test_services_start_once_credentials_acls_and_topics_exist() -> None:
    for name, service in application_services().items():
        depends_on = service["depends_on"]
        for one_shot in ("kafka-init", "topics"):
            assert depends_on[one_shot]["condition"] == "service_completed_successfully", name


def test_the_credentials_script_sets_every_variable_the_file_requires(tmp_path: Path) -> None:
    env_file = tmp_path / "compose.env"

    def run() -> str:
        command = ["sh", str(CREDENTIALS_SCRIPT), str(env_file)]
        subprocess.run(command, check=True, capture_output=True)
        return env_file.read_text()

    first = run()
    assert run() == first, "a second run keeps the passwords and the certificates"
    written = dict(line.split("=", 1) for line in first.splitlines())
    required = {
        match["name"]
        for path in (COMPOSE_FILE, CLUSTER_FILE)
        for match in REQUIRED_VARIABLE.finditer(path.read_text())
    }
    assert required <= written.keys()
    for password in written.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", password)
    assert env_file.stat().st_mode & 0o077 == 0, "readable by its owner only"
    # Beside it, what the brokers' ssl.* settings and the clients' CA file name.
    tls = tmp_path / Path(TLS_SOURCE).name
    for node in CLUSTER_NODES:
        for key in ("ssl.keystore.location", "ssl.truststore.location"):
            assert (tls / Path(broker_config(node, cluster=True)[key]).name).is_file(), node
    assert "BEGIN CERTIFICATE" in (tls / "ca.crt").read_text()
    assert written["CAREPLAN_KAFKA_TLS_PASSWORD"] == (tls / "password").read_text().strip()


def test_the_database_password_comes_from_the_env_file() -> None:
    postgres = environment("postgres")
    assert required_variable(postgres["POSTGRES_PASSWORD"]) == "CAREPLAN_PG_PASSWORD"
    for name in application_services():
        url = environment(name)["DATABASE_URL"]
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert required_variable(password) == "CAREPLAN_PG_PASSWORD", name
    assert "add CAREPLAN_PG_PASSWORD" in (ROOT / "infra/compose/credentials.sh").read_text()


# --- The three-broker cluster (docker-compose.cluster.yml) -----------------------------------

# What a compose node sets otherwise than infra/kafka/cluster.properties, and why.
PLACED_OTHERWISE = {
    "controller.quorum.voters": "the nodes by their compose names (checked below)",
    "listeners": "named and bound for the compose network (checked below)",
    "advertised.listeners": "likewise",
    "listener.security.protocol.map": "likewise",
    "inter.broker.listener.name": "likewise",
    "listener.name.client.scram-sha-512.sasl.jaas.config": "per compose listener (below)",
    "ssl.keystore.location": "the container's mount of .local/compose-tls",
    "ssl.truststore.location": "likewise",
    "log.dirs": "the container's own storage",
}


@pytest.mark.parametrize("node_id", [1, 2, 3])
def test_a_cluster_node_has_the_local_clusters_settings(node_id: int) -> None:
    node = CLUSTER_NODES[node_id - 1]
    config = {key: secret(value) for key, value in broker_config(node, cluster=True).items()}
    template = cluster_node_config(node_id)
    for key, value in template.items():
        if key not in PLACED_OTHERWISE:
            assert config.get(key) == value, f"{node}: {key}"
    protocols = dict(
        entry.split(":") for entry in config["listener.security.protocol.map"].split(",")
    )
    local_protocols = dict(
        entry.split(":") for entry in template["listener.security.protocol.map"].split(",")
    )
    controller = config["controller.listener.names"]
    assert protocols.pop(controller) == local_protocols["CONTROLLER"]
    assert set(protocols.values()) == {"SASL_SSL"}, "every client listener over TLS"
    for listener in protocols:
        jaas = config[f"listener.name.{listener.lower()}.scram-sha-512.sasl.jaas.config"]
        assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule ")
    inter_broker = config["inter.broker.listener.name"]
    assert (
        config[f"listener.name.{inter_broker.lower()}.scram-sha-512.sasl.jaas.config"]
        == (template["listener.name.client.scram-sha-512.sasl.jaas.config"])
    ), "the brokers are clients of each other as admin"
    assert config["ssl.keystore.location"] == f"{TLS_MOUNT}/node-{node_id}.p12"
    assert certificates_of(node, cluster=True) == Path(TLS_SOURCE)
    advertised = dict(entry.split("://") for entry in config["advertised.listeners"].split(","))
    assert advertised[inter_broker] == f"kafka-{node_id}:9092"
    voters = config["controller.quorum.voters"].split(",")
    assert voters == [f"{i}@kafka-{i}:9093" for i in (1, 2, 3)]
    bound = {name: port for name, _, port in listeners(config)}
    assert bound[controller] == "9093"
    assert environment(node, cluster=True)["CLUSTER_ID"] == environment("kafka")["CLUSTER_ID"]


def test_the_cluster_nodes_stand_apart_and_start_as_the_single_broker() -> None:
    cluster = services(cluster=True)
    racks = {broker_config(node, cluster=True)["broker.rack"] for node in CLUSTER_NODES}
    assert len(racks) == 3, "one rack per node"
    host_ports = [port for node in CLUSTER_NODES for port in cluster[node]["ports"]]
    assert len(set(host_ports)) == 3, host_ports
    for node in CLUSTER_NODES:
        assert all(port.startswith("127.0.0.1:") for port in cluster[node]["ports"]), node
        for key in ("image", "entrypoint", "command"):
            assert cluster[node][key] == cluster["kafka"][key], f"{node}: {key}"
        assert "--command-config" in " ".join(cluster[node]["healthcheck"]["test"])
        needed = set(re.findall(r"\$\{([A-Z_]+):\?", KAFKA_START_SCRIPT.read_text()))
        assert needed - environment(node, cluster=True).keys() == set(), node
        assert mounts(node, cluster=True) == mounts("kafka"), node


def test_every_client_of_the_cluster_bootstraps_from_all_three_nodes() -> None:
    cluster = services(cluster=True)
    clients = [*application_services(), "topics", "kafka-init"]
    for name in clients:
        env = environment(name, cluster=True)
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(",") == [
            f"kafka-{i}:9092" for i in (1, 2, 3)
        ], name
        for node in CLUSTER_NODES:
            assert cluster[name]["depends_on"][node]["condition"] == "service_healthy", name
    assert set(cluster) == set(services()) | set(CLUSTER_NODES), "nothing but the two nodes added"
