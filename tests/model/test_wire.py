"""The Structs derived from the wire models accept exactly what the models accept, and read the same.

Three levels, each against the strict reader (``strict_loads`` and pydantic, what explains
every refusal):

- every wire model on the envelope's path, field by field: hypothesis puts in each field
  values at and past its bounds, of other types, near its pattern, removes fields and adds
  unknown ones, and the derived Struct reader must accept exactly the inputs the model
  accepts and build equal models (the same fields given, at every level);
- whole statements and envelopes, mutated as text (duplicate keys, NaN, whitespace, other
  orders and spellings, non-canonical base64): the fast readers accept nothing the strict
  ones refuse, and read the same;
- the deriver refuses (TypeError) every constraint and validator it cannot honour.
"""

from __future__ import annotations

import base64
import json
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, Field, PlainValidator, field_validator, model_validator

from attest.crypto.dsse import _parse_canonical, _parse_general, b64decode_canonical
from attest.errors import EnvelopeError, InputError
from attest.model import fastread
from attest.model.base import Timestamp, WireModel
from attest.model.manifest import WorkloadManifest
from attest.model.statement import Envelope, Statement
from attest.model.wire import derive, view
from attest.sign import build_statement
from tests.conftest import trusted_node

# ---------------------------------------------------------------------------------------------
# Valid examples of every model on the envelope's path, from real manifests


def _real_manifests(tmp: Path) -> list[WorkloadManifest]:
    from attest.hardware.simulated_cc import SimulatedCcBackend
    from tests.hardware.test_binding import bound_manifest
    from tests.location.test_verify_location import honest, with_receipts

    node = trusted_node()
    bound = bound_manifest(node, SimulatedCcBackend(tmp / "vendor"))
    return [node.manifest(), bound, with_receipts(bound, honest(bound))]


def _models(model: type[BaseModel], seen: dict[type[BaseModel], None]) -> None:
    if model in seen:
        return
    seen[model] = None
    for name in model.model_fields:
        for tp in _flatten(typing.get_type_hints(model, include_extras=True)[name]):
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                _models(tp, seen)


def _flatten(tp: Any) -> list[Any]:
    args = typing.get_args(tp)
    return [tp] + [t for a in args for t in _flatten(a)]


MODELS: list[type[BaseModel]] = []
_seen: dict[type[BaseModel], None] = {}
_models(Statement, _seen)
_models(Envelope, _seen)
MODELS = list(_seen)

# Models no simulated manifest carries: a valid example of each, by hand.
EXTRA_EXAMPLES: dict[str, dict[str, Any]] = {
    "MaxClocks": {"graphics": 1980, "sm": 1980, "memory": 2619},
    "MigMode": {"current": False, "pending": True},
    "PlatformInfo": {
        "ib_guid": "0" * 32,
        "chassis_serial": "1821220000001",
        "slot": 1,
        "tray": 2,
        "host_id": 3,
        "peer_type": 0,
        "module_id": 4,
    },
    "Owner": {"legal_name": "Holding AG", "headquarters_country": "CH", "share_percent": 50.5},
    "ConfComputeState": {"environment": "production", "cc_feature": True, "dev_tools_mode": False},
    "LicenseReference": {
        "kind": "license",
        "id": "D123",
        "valid_until": "2027-01-01T00:00:00.123456789+01:00",
    },
    "ImageRef": {"name": "registry/x:1", "digest": "sha256:" + "ab" * 32},
    "Identifier": {"scheme": "lei", "value": "5493001KJTIIGC8Y1R12"},
    "TimedGpuReport": {"receipt_nonce": "ab" * 16, "gpu_index": 3, "report": "00ff"},
}


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[type[BaseModel], list[dict[str, Any]]]:
    """Valid JSON objects of every model, collected from real manifests and envelopes."""
    out: dict[type[BaseModel], list[dict[str, Any]]] = {m: [] for m in MODELS}

    def walk(model: type[BaseModel], obj: Any) -> None:
        if len(out[model]) < 6:
            out[model].append(obj)
        hints = typing.get_type_hints(model, include_extras=True)
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key not in obj:
                continue
            value = obj[key]
            for sub in [t for t in _flatten(hints[name]) if isinstance(t, type) and issubclass(t, BaseModel)]:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        walk(sub, item)

    node = trusted_node()
    for m in _real_manifests(tmp_path_factory.mktemp("wire")):
        walk(Statement, build_statement(m).to_obj())
    walk(Envelope, json.loads(node.envelope()))
    for model in MODELS:
        if model.__name__ in EXTRA_EXAMPLES:
            out[model].append(EXTRA_EXAMPLES[model.__name__])
    missing = [m.__name__ for m, objs in out.items() if not objs]
    assert not missing, f"no example of {missing}"
    for model, objs in out.items():
        for obj in objs:
            model.model_validate(json.loads(json.dumps(obj)))  # every example is valid
    return out


# ---------------------------------------------------------------------------------------------
# Values to put into a field


def _bounds(model: type[BaseModel], name: str) -> list[Any]:
    """Values at and just past a field's declared bounds and patterns."""
    info = model.model_fields[name]
    out: list[Any] = []
    metadata = list(info.metadata)
    for tp in _flatten(typing.get_type_hints(model, include_extras=True)[name]):
        metadata += [m for m in getattr(tp, "__metadata__", ())]
    for m in metadata:
        for part in getattr(m, "metadata", [m]):
            for attr, delta in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
                if hasattr(part, attr):
                    v = getattr(part, attr)
                    out += [v, v + delta, v - 1e-9, v + 1e-9, float(v), int(v) if v == int(v) else v]
            if isinstance(part, annotated_types.MinLen):
                n = part.min_length
                out += ["a" * max(n - 1, 0), "a" * n, ["x"] * max(n - 1, 0), {}]
            if isinstance(part, annotated_types.MaxLen):
                n = part.max_length
                out += ["0" * n, "0" * (n + 1), "é" * n, "é" * (n + 1)]
            pattern = getattr(part, "pattern", None)
            if isinstance(pattern, str):
                out += _near_pattern(pattern)
    return out


def _near_pattern(pattern: str) -> list[str]:
    """Strings that match a pattern of this project and strings that nearly do."""
    samples = {
        r"^[0-9a-f]{64}$": "ab" * 32,
        r"^sha256:[0-9a-f]{64}$": "sha256:" + "ab" * 32,
        r"^[0-9a-f]{32,128}$": "ab" * 16,
        r"^[0-9a-f]+$": "abcd",
        r"^[0-9a-f]{32}$": "ab" * 16,
        r"^0x[0-9a-f]{8}$": "0x233010de",
        r"^\d+\.\d+$": "9.0",
    }
    good = samples.get(pattern, "x")
    return [good, good + "\n", good.upper(), good[:-1], good + "0", " " + good, good + "\u0660", "\n" + good]


OTHERS: list[Any] = [
    None, True, False, 0, -1, 1, 1.0, 1.5, -0.0, 2**53 - 1, 2**53, 2**63, 2**64 + 1, -(2**63) - 1,
    1e308, 5e-324, "", "x", "0", "MY", "my", "XX", "start", "heartbeat", "stop", "license",
    "2026-11-28T09:00:00Z", "2026-11-28t09:00:00z", "2026-11-28T09:00:00+05:30", "2026-11-28T09:00:00",
    "2026-11-28 09:00:00Z", "2026-11-28T09:00:00.1234567891Z", "2026-02-30T09:00:00Z", "2026-11-28T09:00:00Z\n",
    "https://in-toto.io/Statement/v1", "https://compute-attest.dev/workload-manifest/v1", "\ud800",
    "x" * 65536, "x" * 65537, [], [1], ["a"], [{}], {}, {"a": 1}, {"sha256": "ab"}, {"sha256": "AB"},
]  # fmt: skip


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _strict(model: type[WireModel], raw: bytes) -> Any:
    try:
        return model.from_json(raw, max_bytes=2**30)  # the size limit is the callers' (tested there)
    except InputError:
        return None


def _derived(model: type[WireModel], raw: bytes) -> Any:
    reader = derive(model)
    try:
        return reader.to_model(reader.decoder.decode(raw))
    except (ValueError, RecursionError):
        return None


def _given(value: Any) -> Any:
    """The fields given in a model and in every model inside it."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            sorted(value.model_fields_set),
            {k: _given(v) for k, v in value.__dict__.items()},
        )
    if isinstance(value, list):
        return [_given(v) for v in value]
    return None


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return bool(
        a == b
        and _given(a) == _given(b)
        and a.model_dump_json(by_alias=True) == b.model_dump_json(by_alias=True)
        and a.model_dump() == b.model_dump()
    )


def _set(model: type[BaseModel], obj: dict[str, Any], draw: Any) -> dict[str, Any]:
    obj = dict(obj)
    op = draw(st.sampled_from(["value", "value", "value", "bound", "bound", "drop", "unknown", "nest"]))
    names = list(model.model_fields)
    name = draw(st.sampled_from(names))
    key = model.model_fields[name].alias or name
    if op == "drop":
        obj.pop(key, None)
    elif op == "unknown":
        obj[draw(st.sampled_from(["x", name if key != name else "extra", "_type"]))] = 1
    elif op == "bound":
        candidates = _bounds(model, name) or OTHERS
        obj[key] = draw(st.sampled_from(candidates))
    elif op == "nest" and isinstance(obj.get(key), list) and obj[key]:
        items = list(obj[key])
        i = draw(st.integers(0, len(items) - 1))
        items[i] = draw(st.sampled_from([*OTHERS[:12], items[0], items[-1]]))
        if draw(st.booleans()):
            items.append(items[0])  # a repeated item: some models refuse those
        obj[key] = items
    else:
        obj[key] = draw(st.sampled_from(OTHERS))
    return obj


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_field_of_every_wire_model_agrees(
    examples: dict[type[BaseModel], list[dict[str, Any]]], data: st.DataObject
) -> None:
    model = data.draw(st.sampled_from(MODELS))
    obj = data.draw(st.sampled_from(examples[model]))
    for _ in range(data.draw(st.integers(0, 2))):
        obj = _set(model, obj, data.draw)
    try:
        raw = _json(obj)
    except UnicodeEncodeError:
        return
    strict, derived = _strict(model, raw), _derived(model, raw)
    if derived is None and strict is not None and _bool_for_int_literal(model, obj):
        return  # pydantic's one leniency the Struct does not copy (see below); the fast reader falls back
    assert _same(derived, strict), (model.__name__, raw[:300], str(derived)[:300], str(strict)[:300])


def _bool_for_int_literal(model: type[BaseModel], obj: dict[str, Any]) -> bool:
    """``true`` or ``1.0`` where an integer ``Literal`` is asked for: pydantic (strict!) takes them as 1.

    Only ``BindingChallenge.version`` (``Literal[1]``) is such a field. The derived reader
    (msgspec) refuses them; the fast readers then leave the input to the strict one, so what
    the library accepts is unchanged (test_pydantic_takes_true_for_literal_one pins it).
    """
    for name, info in model.model_fields.items():
        args = typing.get_args(info.annotation)
        int_literal = typing.get_origin(info.annotation) is Literal and any(type(a) is int for a in args)
        value = obj.get(info.alias or name)
        if int_literal and type(value) in (bool, float) and value in args:
            return True
    return False


def test_pydantic_takes_true_for_literal_one() -> None:
    from attest.model.manifest import BindingChallenge

    obj = {
        "version": True,
        "challenger_key_id": "ab" * 32,
        "issued_at": "2026-11-28T09:00:00Z",
        "random": "cd" * 32,
    }
    for odd in (True, 1.0):
        assert BindingChallenge.from_json(_json({**obj, "version": odd})).version == 1  # the strict reader
        assert _derived(BindingChallenge, _json({**obj, "version": odd})) is None  # the derived one refuses it
    assert _derived(BindingChallenge, _json({**obj, "version": 1})) == BindingChallenge.from_json(
        _json({**obj, "version": 1})
    )


def test_every_example_reads_the_same_and_fields_given_are_kept(
    examples: dict[type[BaseModel], list[dict[str, Any]]],
) -> None:
    accepted = 0
    for model, objs in examples.items():
        for obj in objs:
            raw = _json(obj)
            assert _same(_derived(model, raw), _strict(model, raw)), model.__name__
            accepted += 1
            for name, info in model.model_fields.items():  # every optional field left out
                key = info.alias or name
                if not info.is_required() and key in obj:
                    less = _json({k: v for k, v in obj.items() if k != key})
                    got = _derived(model, less)
                    assert _same(got, _strict(model, less)), (model.__name__, key)
                    assert got is None or name not in got.model_fields_set
    assert accepted >= len(MODELS)


def test_each_bound_is_exact() -> None:
    """The bounds the issue names, one by one: in, out, and at the edge."""
    from attest.model.manifest import Freshness, Gpu, Site

    site = {"facility_id": "f", "name": "n", "country": "MY", "latitude": 0, "longitude": 0}
    for field_name, value, ok in [
        ("latitude", 90, True),
        ("latitude", 90.0000001, False),
        ("latitude", -90, True),
        ("longitude", -180.5, False),
        ("accuracy", 0, True),
        ("accuracy", -1e-300, False),
        ("accuracy", None, True),
        ("altitude", -1e300, True),
        ("country", "my", False),
        (
            "country",
            "XK",
            "XK" in __import__("attest.model.countries").model.countries.ACCEPTED_COUNTRY_CODES,
        ),
        ("name", "", False),
        ("name", "n" * 512, True),
        ("name", "n" * 513, False),
        ("facility_id", "é" * 128, True),
    ]:
        raw = _json({**site, field_name: value})
        assert (_derived(Site, raw) is not None) is ok is (_strict(Site, raw) is not None), (
            field_name,
            value,
        )
    fresh = {"issued_at": "2026-11-28T09:00:00Z", "expires_at": "2026-11-28T09:15:00Z", "nonce": "ab" * 16}
    for extra, ok in [
        ({"sequence": 2**53 - 1, "previous": "sha256:" + "0" * 64}, True),
        ({"sequence": 2**53, "previous": "sha256:" + "0" * 64}, False),
        ({"sequence": 1}, False),  # previous is required past 0: the model validator
        ({"sequence": 0, "nonce": "ab" * 16 + "\n"}, False),  # Python's $ would let this through
        ({"sequence": 0, "expires_at": "2026-11-28T09:00:00Z"}, False),
        ({"sequence": 0, "issued_at": "2026-11-28T09:00:00.999999999+00:00"}, True),
        ({"sequence": -1}, False),
        ({"sequence": 1.0, "previous": "sha256:" + "0" * 64}, False),
        ({"sequence": True}, False),
        # the years a timestamp may name: 1970 to 2199, in UTC (both readers share the check)
        ({"sequence": 0, "issued_at": "1970-01-01T00:00:00Z"}, True),
        ({"sequence": 0, "issued_at": "1969-12-31T23:59:59.999999Z"}, False),
        ({"sequence": 0, "issued_at": "1970-01-01T00:59:59+01:00"}, False),  # 1969 in UTC
        ({"sequence": 0, "issued_at": "0001-01-01T00:00:00Z"}, False),
        ({"sequence": 0, "issued_at": "0001-01-01T00:00:00+01:00"}, False),  # before UTC's calendar
        ({"sequence": 0, "expires_at": "2199-12-31T23:59:59.999999Z"}, True),
        ({"sequence": 0, "expires_at": "2200-01-01T00:00:00Z"}, False),
        ({"sequence": 0, "expires_at": "2199-12-31T23:30:00-01:00"}, False),  # 2200 in UTC
        ({"sequence": 0, "expires_at": "9999-12-31T23:59:59Z"}, False),
        ({"sequence": 0, "expires_at": "9999-12-31T23:59:59-23:59"}, False),  # beyond UTC's calendar
    ]:
        raw = _json({**fresh, **extra})
        assert (_derived(Freshness, raw) is not None) is ok is (_strict(Freshness, raw) is not None), extra
    gpu = {
        "index": 0,
        "name": "g",
        "uuid": "GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0",
        "pci": {"bus_id": "00000000:18:00.0", "device_id": "0x233010de"},
    }
    for extra, ok in [
        ({"index": 1023}, True),
        ({"index": 1024}, False),
        ({"memory_total_mib": 2**70}, True),
        ({"uuid": "GPU-559C7F49-e3ff-0358-0c74-8f7eeb60b7b0"}, False),
    ]:
        raw = _json({**gpu, **extra})
        assert (_derived(Gpu, raw) is not None) is ok is (_strict(Gpu, raw) is not None), extra


# ---------------------------------------------------------------------------------------------
# Whole statements and envelopes, mutated as text


def _payload(m: WorkloadManifest) -> bytes:
    return build_statement(m).model_dump_json(by_alias=True, exclude_none=True).encode()


def _strict_statement(p: bytes) -> Statement | None:
    try:
        return Statement.from_json(p, what="statement")
    except InputError:
        return None


def _fast_statement(p: bytes) -> Statement | None:
    try:
        return fastread._read_fast(p)
    except fastread._NotFast:
        return None


TEXT_EDITS: list[tuple[bytes, bytes]] = [
    (b'"sequence":', b'"sequence":0,"sequence":'),
    (b'"nonce":"', b'"nonce":"00","nonce":"'),
    (b'"hostname":"', b'"hostname":"evil","hostname":"'),
    (b'"country":"', b'"country":"CN","country":"'),
    (b'"key_id":"', b'"key_id":"' + b"0" * 64 + b'","key_id":"'),
    (b'"digest":{', b'"digest":{"sha256":"00","sha256":"00",'),
    (b'"sequence":0', b'"sequence":NaN'),
    (b'"latitude":', b'"latitude":-Infinity,"x":'),
    (b'"latitude":', b'"latitude": '),
    (b'"latitude":1.6561', b'"latitude":16561e-4'),
    (b'"accuracy":500.0', b'"accuracy":500'),
    (b'"accuracy":500.0', b'"accuracy":5e2'),
    (b'"tpp":15832.0', b'"tpp":1e400'),
    (b'"index":0', b'"index":-0'),
    (b'"phase":"start"', b'"phase":"st\\u0061rt"'),
    (b'"legal_name":"', b'"legal_name":"\\u0000'),
    (b'"hostname":"gpu-a17"', b'"hostname":"gpu-a17\\n"'),
    (b'"nonce":"', b'"nonce":"\\n'),
    (b'"sequence":0', b'"sequence":0.0'),
    (b'"sequence":0', b'"sequence":00'),
    (b'"sequence":0', b'"sequence":9007199254740992,"previous":"sha256:' + b"0" * 64 + b'"'),
    (b"}}}", b"}}} "),
    (b"}}}", b"}}}\n"),
    (b"}}}", b"}}},"),
    (b'{"_type"', b'\xef\xbb\xbf{"_type"'),
    (b'"expires_at":"2', b'"expires_at":"9'),  # years beyond 2199: refused by both readers alike
    (b'"issued_at":"2', b'"issued_at":"0'),
    (b'"started_at":"2026', b'"started_at":"9999'),
]


@pytest.fixture(scope="module")
def payloads(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return [_payload(m) for m in _real_manifests(tmp_path_factory.mktemp("stmt"))]


def test_statement_text_edits_read_the_same_or_are_refused_alike(payloads: list[bytes]) -> None:
    for p in payloads:
        for old, new in TEXT_EDITS:
            if old not in p:
                continue
            for edited in (p.replace(old, new, 1), p.replace(old, new)):
                s = _strict_statement(edited)
                f = _fast_statement(edited)
                assert f is None or _same(f, s), new
                assert _same(fastread.read_statement(edited) if s else s, s), new


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_statement_json_edits_agree(payloads: list[bytes], data: st.DataObject) -> None:
    """Edits of the statement as JSON (any member at any depth), written as the signers write."""
    p = data.draw(st.sampled_from(payloads))
    obj = json.loads(p)
    path: list[Any] = []
    node = obj
    while isinstance(node, dict | list) and node and data.draw(st.integers(0, 4)) > 0:
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    if path:
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        op = data.draw(st.sampled_from(["set", "set", "drop", "unknown"]))
        if op == "set":
            parent[path[-1]] = data.draw(st.sampled_from(OTHERS))
        elif op == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["zz"] = 1
    sort = data.draw(st.booleans())
    try:
        edited = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=sort).encode(
            "utf-8", "surrogatepass"
        )
    except (UnicodeEncodeError, ValueError):
        return
    s, f = _strict_statement(edited), _fast_statement(edited)
    assert f is None or _same(f, s), edited[:300]
    got = fastread.read_statement(edited) if s is not None else None
    assert _same(got, s)


def _general_envelope(raw: bytes) -> tuple[Envelope, bytes] | None:
    try:
        env = _parse_general(raw, max_bytes=10**7, require_canonical=True)
        payload = b64decode_canonical(env.payload, what="payload")
        for s in env.signatures:
            b64decode_canonical(s.sig, what="signature")
    except EnvelopeError:
        return None
    return env, payload


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_envelope_json_edits_agree(data: st.DataObject) -> None:
    raw = trusted_node().envelope()
    env = json.loads(raw)
    field_name = data.draw(st.sampled_from(["payload", "payloadType", "signatures", "keyid", "sig", "extra"]))
    value = data.draw(st.sampled_from([*OTHERS, "AAAA", "AAA=", "AA==", "AB==", "A===", "QUJD", "-_-_"]))
    if field_name in ("keyid", "sig"):
        sigs = [dict(s) for s in env["signatures"]]
        sigs[0][field_name] = value
        if data.draw(st.booleans()):
            sigs.append(dict(sigs[0]))  # the same keyid twice: the field validator refuses it
        env["signatures"] = sigs
    else:
        env[field_name] = value
    try:
        edited = json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    except UnicodeEncodeError:
        return
    fast = _parse_canonical(edited)
    assert fast is None or fast == _general_envelope(edited), edited[:200]


def test_envelope_model_validators_run_on_the_fast_path() -> None:
    raw = trusted_node().envelope()
    env = json.loads(raw)
    env["signatures"] = env["signatures"] * 2
    twice = json.dumps(env, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    assert _parse_canonical(twice) is None and _general_envelope(twice) is None
    assert _parse_canonical(raw) == _general_envelope(raw) is not None


def test_views_read_only_valid_values() -> None:
    """The pre-readers' views keep the model's constraints on what they read."""
    from attest.verify import chain_order_key

    node = trusted_node()
    raw = node.envelope()
    assert chain_order_key(raw)[0] == node.key.key_id
    env = json.loads(raw)
    payload = json.loads(base64.b64decode(env["payload"]))
    payload["predicate"]["node"]["key_id"] = "AB" * 32  # not lowercase hex: no model reads it
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    assert chain_order_key(json.dumps(env).encode()) == ("", -1)
    keys = msgspec.json.Decoder(view(Envelope, {"signatures": {"keyid": None}}))
    with pytest.raises(msgspec.ValidationError):
        keys.decode(b'{"signatures":[{"keyid":"AB"}]}')


# ---------------------------------------------------------------------------------------------
# What the deriver refuses


class _Wire(WireModel):
    pass


def _refused(model: type[BaseModel]) -> None:
    with pytest.raises(TypeError):
        derive(model)


def test_the_deriver_refuses_what_it_cannot_honour() -> None:
    class MultipleOf(_Wire):
        n: Annotated[int, Field(multiple_of=2)]

    class Before(_Wire):
        n: int

        @model_validator(mode="before")
        @classmethod
        def _b(cls, v: Any) -> Any:
            return v

    class Wrap(_Wire):
        n: int

        @field_validator("n", mode="wrap")
        @classmethod
        def _w(cls, v: Any, handler: Any) -> Any:
            return handler(v)

    class TwoModels(_Wire):
        x: MultipleOf | Before

    class Unanchored(_Wire):
        s: Annotated[str, Field(pattern="[a-z]+")]

    class Plain(_Wire):
        s: Annotated[str, PlainValidator(str)]

    class TwoAfter(_Wire):
        s: Annotated[str, AfterValidator(str.strip), AfterValidator(str.lower)]

    class Loose(BaseModel):
        n: int

    class Tuple(_Wire):
        t: tuple[int, int]

    class Strict(_Wire):
        n: int = Field(strict=False)

    for model in (MultipleOf, Before, Wrap, TwoModels, Unanchored, Plain, TwoAfter, Loose, Tuple, Strict):
        _refused(model)


def test_the_deriver_reads_what_it_honours() -> None:
    class Ok(_Wire):
        kind: Literal["a", "b"]
        n: Annotated[int, Field(ge=1, lt=10)] = 1
        when: Timestamp | None = None
        tags: list[Annotated[str, Field(pattern=r"^[a-z]+$")]] = Field(default_factory=list, max_length=2)

        @model_validator(mode="after")
        def _check(self) -> Ok:
            if self.n == 7:
                raise ValueError("not 7")
            return self

    reader = derive(Ok)
    got = reader.to_model(reader.decoder.decode(b'{"kind":"a","tags":["x"]}'))
    assert got == Ok(kind="a", tags=["x"]) and got.model_fields_set == {"kind", "tags"}
    for bad in (
        b'{"kind":"c"}',
        b'{"kind":"a","n":10}',
        b'{"kind":"a","n":7}',
        b'{"kind":"a","tags":["X"]}',
        b'{"kind":"a","tags":["x\\n"]}',
    ):
        with pytest.raises(ValueError):
            reader.to_model(reader.decoder.decode(bad))
        with pytest.raises(InputError):
            Ok.from_json(bad)
    when = reader.to_model(reader.decoder.decode(b'{"kind":"b","when":"2026-11-28T10:00:00+01:00"}')).when
    assert when == datetime(2026, 11, 28, 9, tzinfo=UTC) and when.tzinfo is UTC


def test_envelope_fast_path_reads_the_one_payload_token() -> None:
    """The fast path finds the payload by position; a second payload, escapes or padding elsewhere are refused."""
    raw = trusted_node().envelope()
    env = json.loads(raw)
    other = base64.b64encode(b"x" * len(base64.b64decode(env["payload"]))).decode()
    assert len(other) == len(env["payload"]) and env["payload"].startswith("e")  # '{' is ey... in base64
    tail = raw[raw.index(b'","payloadType"') + 1 :]
    for edited in [
        b'{"payload":"' + other.encode() + b'","payload":"' + env["payload"].encode() + b'",' + tail[1:],
        b'{"payload":"' + env["payload"].encode() + b'","payload":"' + other.encode() + b'",' + tail[1:],
        raw.replace(b'{"payload":"e', b'{"payload":"\\u0065', 1),  # the same text, one character escaped
        raw.replace(b'","payloadType"', b'" ,"payloadType"', 1),
        raw.replace(b'","payloadType"', b'","payloadType":"x","payloadType"', 1),
    ]:
        assert edited != raw
        assert _parse_canonical(edited) is None and _general_envelope(edited) is None, edited[:80]
    assert _parse_canonical(raw) == _general_envelope(raw) is not None


def test_signed_parser_differentials_are_refused_through_the_cli(tmp_path: Path, cli: Any) -> None:
    """A node key signs payloads that two JSON readers could read apart; ``attest verify`` refuses each.

    A repeated key read last by msgspec and first by another reader (the site's country, the
    tenant's headquarters, the whole site, the manifest), a nonce or key id with a final
    newline (which Python's ``$`` would let through), NaN and out-of-range numbers: exit 3,
    ``statement.malformed``, with the strict reader's explanation. The honest payload, the
    same payload with whitespace and in sorted order pass (they are the same statement).
    """
    from attest.crypto.dsse import encode_envelope, sign_payload
    from attest.model.statement import PAYLOAD_TYPE_INTOTO
    from tests.conftest import NOW

    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    site = b'"country":"MY","latitude"'
    hq = b'"headquarters_country":"US"'
    kid = node.key.key_id.encode()

    def twice(p: bytes) -> bytes:
        pred = p.index(b'"predicate":') + len(b'"predicate":')
        return p[:-1] + b',"predicate":' + p[pred:-1] + b"}"

    # Each on a manifest of its own (its own nonce); the ones that pass form the node's chain.
    edits: dict[str, tuple[Any, int]] = {
        "honest": (lambda p: p, 0),
        "whitespace": (lambda p: p.replace(b'"job":{', b'"job": {', 1), 0),
        "sorted": (lambda p: json.dumps(json.loads(p), sort_keys=True, separators=(",", ":")).encode(), 0),
        "country_cn_last": (lambda p: p.replace(site, b'"country":"MY","country":"CN","latitude"', 1), 3),
        "country_cn_first": (lambda p: p.replace(site, b'"country":"CN","country":"MY","latitude"', 1), 3),
        "hq_twice": (lambda p: p.replace(hq, b'"headquarters_country":"CN",' + hq, 1), 3),
        "site_twice": (lambda p: p.replace(b'"site":{', b'"site":{"facility_id":"x","name":"x","country":"CN","latitude":0,"longitude":0},"site":{', 1), 3),
        "predicate_twice": (twice, 3),
        "nonce_newline": (lambda p: p.replace(b'","sequence"', b'\\n","sequence"', 1), 3),
        "key_id_newline": (lambda p: p.replace(kid + b'"', kid + b'\\n"', 1), 3),
        "nan": (lambda p: p.replace(b'"latitude":1.6561', b'"latitude":NaN', 1), 3),
        "huge": (lambda p: p.replace(b'"latitude":1.6561', b'"latitude":1e400', 1), 3),
    }
    cases: dict[str, tuple[bytes, int]] = {}
    for name, (edit, code) in edits.items():
        p = _payload(node.manifest(chain=code == 0))
        cases[name] = (edit(p), code)
        assert cases[name][0] != p or name == "honest", name
    for name, (payload, _) in cases.items():
        raw = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key]))
        (tmp_path / f"{name}.env.json").write_bytes(raw)
    later = (NOW + timedelta(minutes=1)).isoformat()
    names = list(cases)
    out = cli("verify", *[f"{n}.env.json" for n in names], "--trust", "trust.json", "--now", later, "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert out.returncode == 3 and len(results) == len(names)
    for name, result in zip(names, results, strict=True):
        rules = [f["rule"] for f in result["findings"] if f["severity"] != "info"]
        if cases[name][1] == 0:
            assert result["status"] == "affirming", (name, rules)
        else:
            assert result["status"] == "contraindicated" and rules == ["statement.malformed"], (name, rules)
