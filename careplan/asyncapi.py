"""A service's AsyncAPI document, complete enough to build a client from.

FastStream draws channels, operations and payload schemas from the service's own subscribers
and publishers (shared.runtime.Service.asyncapi). What a client also needs, and FastStream does
not know, is added here from the contracts and the settings: the server and its SASL/SCRAM
security, the Kafka bindings (message key, partitions, the consumer group), every dead-letter
channel with its headers, and where the correlation id really is on the wire (the envelope's
`correlation_id`, in the payload).
"""

from __future__ import annotations

import json
from typing import Any

from careplan.registry import service_app
from contracts.topics import BY_NAME, Topic
from shared.dead_letters import DEAD_LETTER_HEADERS
from shared.kafka_admin import DEAD_LETTER_PARTITIONS
from shared.runtime import Service
from shared.settings import ServiceSettings

BINDING_VERSION = "0.5.0"
SERVER = "local"
SECURITY_SCHEME = "scram"
# Where the envelope keeps the id every answer repeats (DESIGN: an answer names its request).
CORRELATION_ID = {
    "description": "The envelope's correlation_id: the case, order or plan this belongs to; "
    "an answer names the request it answers by its causation_id, the request's event_id.",
    "location": "$message.payload#/correlation_id",
}


def _server() -> dict[str, Any]:
    # The documented address is the local stack's default; CAREPLAN_KAFKA_PORT moves it.
    port = ServiceSettings.model_fields["kafka_port"].default
    return {
        "host": "127.0.0.1:{port}",
        "protocol": "kafka",
        "protocolVersion": "4.1",
        "description": "The local stack (infra/stack.sh); KAFKA_BOOTSTRAP_SERVERS elsewhere.",
        "variables": {"port": {"default": str(port), "description": "CAREPLAN_KAFKA_PORT"}},
        "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
    }


def _security_scheme() -> dict[str, Any]:
    return {
        "type": "scramSha512",
        "description": "SASL/SCRAM-SHA-512 over SASL_PLAINTEXT. Each service and each outside "
        "system is its own principal (infra/kafka/acls.txt); `careplan client-properties "
        "<principal>` prints an outside system's settings.",
    }


def _key(topic: Topic) -> dict[str, Any]:
    return {"type": "string", "description": f"The record key: the {topic.key}."}


def _channel_bindings(name: str, partitions: int) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": name,
            "partitions": partitions,
            "replicas": 1,
            "bindingVersion": BINDING_VERSION,
        }
    }


def _dead_letter_channel(topic: Topic, service: Service) -> tuple[str, dict[str, Any]]:
    message = {
        "name": f"{topic.dead_letter}:DeadLetter",
        "title": f"A record of {topic.name} that {service.name} could not apply",
        "summary": "The original key and bytes, unchanged (careplan replay-dead-letters "
        "republishes them once fixed), with the original headers and these.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                name: {"type": "string", "description": says}
                for name, says in DEAD_LETTER_HEADERS.items()
            },
            "required": sorted(DEAD_LETTER_HEADERS),
        },
        "payload": {"description": "The original record's value, byte for byte."},
        "bindings": {"kafka": {"key": _key(topic), "bindingVersion": BINDING_VERSION}},
    }
    channel = {
        "address": topic.dead_letter,
        "description": f"Dead letters of {topic.name}: what {service.name} refused, and why.",
        "messages": {"DeadLetter": message},
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "bindings": _channel_bindings(topic.dead_letter, DEAD_LETTER_PARTITIONS),
    }
    return f"{topic.dead_letter}:{service.name}", channel


def complete(spec: dict[str, Any], service: Service) -> dict[str, Any]:
    """FastStream's document of `service`, with what a client needs added."""
    spec["servers"] = {SERVER: _server()}
    spec.setdefault("components", {})["securitySchemes"] = {SECURITY_SCHEME: _security_scheme()}
    for channel in spec["channels"].values():
        topic = BY_NAME[channel["address"]]
        channel["servers"] = [{"$ref": f"#/servers/{SERVER}"}]
        channel["bindings"] = _channel_bindings(topic.name, topic.partitions)
    for name, message in spec["components"]["messages"].items():
        topic = BY_NAME[name.split(":", 1)[0]]
        message["correlationId"] = dict(CORRELATION_ID)
        message["bindings"] = {"kafka": {"key": _key(topic), "bindingVersion": BINDING_VERSION}}
    for operation in spec["operations"].values():
        if operation["action"] == "receive":
            group = {"type": "string", "const": service.group_id}
            operation["bindings"] = {"kafka": {"groupId": group, "bindingVersion": BINDING_VERSION}}
    for topic, _ in sorted(service.consumed.values(), key=lambda item: item[0].name):
        key, channel = _dead_letter_channel(topic, service)
        spec["channels"][key] = channel
        spec["operations"][f"{key}:send"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{service.name} dead-letters a record of {topic.name} it cannot apply.",
            "messages": [{"$ref": f"#/channels/{key}/messages/DeadLetter"}],
        }
    return spec


def render(service: str) -> str:
    """The checked-in document of `service` (docs/asyncapi/<service>.json)."""
    app = service_app(service)
    spec = complete(app.asyncapi().to_specification().to_jsonable(), app)
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"
