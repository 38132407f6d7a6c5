"""The wire format has one spelling of each key: every wire reader refuses a field's Python name.

``_type``, ``predicateType`` and ``payloadType`` are the wire's names of the models' fields
``type``, ``predicate_type`` and ``payload_type``. The models accept either name when Python
code builds them (``populate_by_name``), but no reader of the wire does — not the derived
msgspec Structs, not the fast readers, not the strict pydantic reader (``from_json`` /
``from_obj``), with the canonical check on or off — and the error names the key and its one
spelling. User-written files (policy clearances, screening lists) keep what they documented.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from attest.crypto.dsse import encode_envelope, parse_envelope, sign_payload
from attest.errors import EnvelopeError, InputError
from attest.model.base import WireModel
from attest.model.fastread import read_statement
from attest.model.policy import Clearance
from attest.model.statement import PAYLOAD_TYPE_INTOTO, Envelope, Statement
from attest.model.wire import derive
from attest.policy.screening import ListEntry
from attest.sign import build_statement
from attest.verify import VerifyOptions, verify_envelope
from tests.conftest import NOW, CliRunner, Node, trusted_node


def _subclasses(cls: type[WireModel]) -> list[type[WireModel]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


# The models of user-written files, which keep what they documented (``list`` or ``list_id``).
USER_FILES = {"Clearance", "PolicyDocument", "ListEntry", "ScreeningList"}
# Every aliased field of every other wire model.
ALIASED = sorted(
    {
        (model.__name__, name, info.alias)
        for model in _subclasses(WireModel)
        if model.__name__ not in USER_FILES
        for name, info in model.model_fields.items()
        if info.alias and info.alias != name
    }
)
MODELS: dict[str, type[WireModel]] = {"Statement": Statement, "Envelope": Envelope}


def test_the_aliased_fields_are_the_ones_the_design_names() -> None:
    assert ALIASED == [
        ("Envelope", "payload_type", "payloadType"),
        ("Statement", "predicate_type", "predicateType"),
        ("Statement", "type", "_type"),
    ]
    assert all(m.wire_spelling_only for m in _subclasses(WireModel) if m.__name__ not in USER_FILES)


@pytest.fixture(scope="module")
def node() -> Node:
    return trusted_node()


def _valid(node: Node, model: str) -> dict[str, Any]:
    """A valid wire object of ``model``, every field written (as the signers write it)."""
    m = node.manifest()
    if model == "Statement":
        obj: dict[str, Any] = build_statement(m).to_obj()
        assert "_type" in obj and "predicateType" in obj
        return obj
    return dict(json.loads(node.envelope(m)))


def _respelled(obj: dict[str, Any], alias: str, name: str) -> dict[str, Any]:
    """``obj`` with the key ``alias`` renamed ``name``, in its place."""
    return {(name if k == alias else k): v for k, v in obj.items()}


@pytest.mark.parametrize(("model", "name", "alias"), ALIASED)
def test_every_reader_refuses_the_python_name(node: Node, model: str, name: str, alias: str) -> None:
    cls = MODELS[model]
    good = _valid(node, model)
    cls.from_obj(good)  # the wire spelling reads
    derive(cls).decoder.decode(json.dumps(good).encode())
    for spelling in sorted({name, name + "_", alias.lower(), alias.upper(), alias.lstrip("_")} - {alias}):
        bad = _respelled(good, alias, spelling)
        with pytest.raises(InputError, match="unknown field") as err:
            cls.from_obj(bad)
        assert spelling in err.value.message
        if spelling == name:  # the error says how the wire spells it
            assert repr(alias) in err.value.message, err.value.message
        with pytest.raises(InputError):
            cls.from_json(json.dumps(bad))
        for order in ("model", "sorted"):
            with pytest.raises(msgspec.ValidationError, match="unknown field"):
                derive(cls, order=order).decoder.decode(json.dumps(bad).encode())
    # Both spellings at once: the Python name is still an unknown key.
    both = {**good, name: good[alias]}
    with pytest.raises(InputError, match="unknown field"):
        cls.from_obj(both)


def _signed(node: Node, payload: bytes) -> bytes:
    return encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key]))


@pytest.mark.parametrize("canonical", [True, False])
@pytest.mark.parametrize(("model", "name", "alias"), ALIASED)
def test_verification_refuses_the_python_name(node: Node, canonical: bool, model: str, name: str, alias: str) -> None:
    options = VerifyOptions(require_canonical=canonical)
    later = NOW + timedelta(minutes=1)
    good = _valid(node, model)
    if model == "Statement":
        raw = _signed(node, json.dumps(_respelled(good, alias, name)).encode())
        payload = parse_envelope(raw)[1]
        with pytest.raises(InputError, match=repr(alias)):
            read_statement(payload)
        result = verify_envelope(raw, node.trust, now=later, options=options)
        rule = "statement.malformed"
        assert verify_envelope(_signed(node, json.dumps(good).encode()), node.trust, now=later, options=options).status.value == "affirming"
    else:
        raw = (json.dumps(_respelled(good, alias, name), sort_keys=True, separators=(",", ":")) + "\n").encode()
        with pytest.raises(EnvelopeError, match=repr(alias)):
            parse_envelope(raw, require_canonical=canonical)
        result = verify_envelope(raw, node.trust, now=later, options=options)
        rule = "envelope.malformed"
    assert result.status.value == "contraindicated"
    found = [f for f in result.findings if f.rule == rule]
    assert found and name in found[0].message and repr(alias) in found[0].message, result.findings


@pytest.mark.parametrize(("model", "name", "alias"), ALIASED)
def test_attest_verify_refuses_the_python_name(node: Node, cli: CliRunner, tmp_path: Any, model: str, name: str, alias: str) -> None:
    node.trust.save(tmp_path / "trust.json")
    good = _valid(node, model)
    if model == "Statement":
        raw = _signed(node, json.dumps(_respelled(good, alias, name)).encode())
    else:
        raw = (json.dumps(_respelled(good, alias, name), sort_keys=True, separators=(",", ":")) + "\n").encode()
    (tmp_path / "e.json").write_bytes(raw)
    at = (NOW + timedelta(minutes=1)).isoformat()
    for extra in ([], ["--allow-noncanonical"]):
        proc: subprocess.CompletedProcess[str] = cli("verify", "e.json", "--trust", "trust.json", "--now", at, "--format", "json", *extra)
        assert proc.returncode == 3, (proc.stdout, proc.stderr)
        out = json.loads(proc.stdout)
        assert out["status"] == "contraindicated"
        assert any(name in f["message"] and repr(alias) in f["message"] for f in out["findings"]), out["findings"]


def test_user_written_files_keep_what_they_document() -> None:
    """Policy clearances and screening lists read ``list`` (documented) and ``list_id`` as before."""
    clearance = {
        "list": "entity-list",
        "entry": "el-x",
        "party": "Example Robotics Inc.",
        "country": "US",
        "reviewer": "a reviewer",
        "date": dt.date(2026, 1, 1),
        "reason": "a homonym",
    }
    for key in ("list", "list_id"):
        assert Clearance.from_obj(_respelled(clearance, "list", key)).list_id == "entity-list"
    entry = {"id": "el-x", "list": "entity-list", "name": "X"}
    for key in ("list", "list_id"):
        assert ListEntry.from_obj(_respelled(entry, "list", key)).list_id == "entity-list"


def test_envelope_base64_is_unchanged_by_the_spelling(node: Node) -> None:
    """The payload is decoded only from ``payload``: a respelled envelope never reaches it."""
    good = _valid(node, "Envelope")
    assert base64.b64decode(good["payload"])
    assert isinstance(Envelope.from_obj(good), BaseModel)


@pytest.mark.parametrize("canonical", [True, False])
@pytest.mark.parametrize("missing", [("_type",), ("predicateType",), ("_type", "predicateType")])
def test_a_statement_without_its_type_keys_is_refused(node: Node, canonical: bool, missing: tuple[str, ...]) -> None:
    """in-toto requires ``_type`` and ``predicateType``: no reader supplies them when they are left out."""
    good = _valid(node, "Statement")
    bad = {k: v for k, v in good.items() if k not in missing}
    for order in ("model", "sorted"):
        with pytest.raises(msgspec.ValidationError, match="missing required field"):
            derive(Statement, order=order).decoder.decode(json.dumps(bad).encode())
    with pytest.raises(InputError, match="missing"):
        Statement.from_obj(bad)
    for text in (json.dumps(bad), json.dumps(bad, separators=(",", ":"))):
        with pytest.raises(InputError, match=missing[0]):
            read_statement(text.encode())
    raw = _signed(node, json.dumps(bad, separators=(",", ":")).encode())
    result = verify_envelope(raw, node.trust, now=NOW + timedelta(minutes=1), options=VerifyOptions(require_canonical=canonical))
    assert result.status.value == "contraindicated"
    assert any(f.rule == "statement.malformed" and all(k in f.message for k in missing) for f in result.findings), result.findings
