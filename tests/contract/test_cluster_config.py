"""The local cluster's node template (infra/kafka/cluster.properties) is the single node's
(infra/kafka/server.properties) in everything but placement, replication and TLS: the same
security, the same topic behaviour; and it replicates every topic, the internal ones included,
three times with two in sync for a write, never electing a replica that fell behind."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
SINGLE = ROOT / "infra/kafka/server.properties"
CLUSTER = ROOT / "infra/kafka/cluster.properties"


def properties(path: Path) -> dict[str, str]:
    config = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip()
    return config


SHARED = (
    "process.roles",
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "sasl.enabled.mechanisms",
    "sasl.mechanism.inter.broker.protocol",
    "listener.name.client.scram-sha-512.sasl.jaas.config",
    "listener.name.controller.sasl.enabled.mechanisms",
    "sasl.mechanism.controller.protocol",
    "listener.name.controller.plain.sasl.jaas.config",
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
    "log.retention.hours",
    "num.partitions",
    "auto.create.topics.enable",
    "group.initial.rebalance.delay.ms",
)


def test_a_cluster_node_is_secured_and_behaves_as_the_single_node() -> None:
    single, node = properties(SINGLE), properties(CLUSTER)
    for key in SHARED:
        normalise = {
            "@NODE_PORT@": "@KAFKA_PORT@",
            "@NODE_CONTROLLER_PORT@": "@KAFKA_CONTROLLER_PORT@",
        }
        value = node[key]
        for placeholder, same in normalise.items():
            value = value.replace(placeholder, same)
        assert value == single[key], key


def test_every_topic_has_three_replicas_and_two_in_sync_for_a_write() -> None:
    node = properties(CLUSTER)
    assert node["default.replication.factor"] == "3"
    assert node["min.insync.replicas"] == "2"
    for internal in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert node[f"{internal}.replication.factor"] == "3", internal
    for internal in ("transaction.state.log", "share.coordinator.state.topic"):
        assert node[f"{internal}.min.isr"] == "2", internal
    assert node["unclean.leader.election.enable"] == "false"
    assert node["broker.rack"] == "rack-@NODE_ID@"


def test_the_brokers_verify_each_other_over_tls() -> None:
    node = properties(CLUSTER)
    assert node["ssl.endpoint.identification.algorithm"] == "https"
    assert node["ssl.keystore.location"] == "@TLS_DIR@/node-@NODE_ID@.p12"
    assert node["ssl.truststore.location"] == "@TLS_DIR@/truststore.p12"
