"""`shared/`, the runtime library, never depends on a service: not by an import, not through
importlib. What needs every service is the composition root, `careplan/`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]


def services_named(source: str) -> list[str]:
    """Every import of `services` in a module, and every string naming a `services.` module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "services"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "services":
            found.append(node.module or "")
        # The literal parts of an f-string are constants too.
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (node.value.startswith("services.") or node.value == "services")
        ):
            found.append(node.value)
    return found


def test_the_check_finds_each_way_of_naming_a_service() -> None:
    assert services_named("import services.claims.app") == ["services.claims.app"]
    assert services_named("from services.lookup import domain") == ["services.lookup"]
    assert services_named("importlib.import_module(f'services.{name}.app')") == ["services."]
    assert services_named("importlib.import_module('services.claims')") == ["services.claims"]
    assert services_named("from shared import db") == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "shared").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_runtime_library_names_no_service(path: Path) -> None:
    assert services_named(path.read_text()) == []
