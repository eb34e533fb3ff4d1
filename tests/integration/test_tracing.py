"""The configurable OTLP exporter: off by default, and when configured, spans reach the endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared.settings import ServiceSettings
from shared.tracing import configure_tracing

pytestmark = pytest.mark.integration


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_no_exporter_unless_configured() -> None:
    settings = ServiceSettings()
    assert settings.otlp_endpoint is None
    assert settings.trace_file is None


def test_spans_reach_the_configured_otlp_endpoint(collector: HTTPServer) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_port}/v1/traces"
    provider = configure_tracing("claims", otlp_endpoint=endpoint, trace_file=None)
    exporters = [
        processor.span_exporter  # type: ignore[attr-defined]
        for processor in provider._active_span_processor._span_processors
    ]
    assert [type(exporter) for exporter in exporters] == [OTLPSpanExporter]
    with provider.get_tracer("test").start_as_current_span("claims handle x") as span:
        span.set_attribute("careplan.case_id", "CASE-OTLP")
    assert provider.force_flush()
    provider.shutdown()
    ((path, body),) = Collector.received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service_name = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service_name["service.name"] == "careplan-claims"
    (sent,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert sent.name == "claims handle x"
    assert {a.key: a.value.string_value for a in sent.attributes} == {
        "careplan.case_id": "CASE-OTLP"
    }
