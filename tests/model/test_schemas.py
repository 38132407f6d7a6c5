"""The JSON Schemas in schemas/ are generated from the models and must be current."""

import json

import pytest

from attest.schemas import SCHEMA_MODELS, render_schemas
from tests.conftest import REPO


def test_committed_schemas_are_current() -> None:
    expected = render_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "schemas").glob("*.json")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, (
        f"schemas out of date: {stale}, unexpected: {extra}; run: python -m attest.schemas"
    )


@pytest.mark.parametrize("name", sorted(SCHEMA_MODELS))
def test_schema_documents_are_strict(name: str) -> None:
    schema = json.loads(render_schemas()[f"{name}.json"])
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema.get("additionalProperties") is False
