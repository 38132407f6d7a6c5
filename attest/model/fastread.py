"""Reading a signed statement quickly, with exactly the result of the strict reader.

A node signs thousands of manifests whose tenant, operator, site, node, GPU and
licence blocks repeat byte for byte; only ``job``, ``freshness``, the subjects and
(sometimes) the location evidence change. :func:`read_statement` exploits that:

1. ``msgspec`` (a C decoder) splits the payload into the raw bytes of the
   statement's members and the manifest's members, without building them;
2. the split is accepted only when re-encoding the members gives back the payload
   byte for byte — so there is no duplicate key, no unknown member, no whitespace
   and no other spelling at those two levels;
3. each member is validated by the same pydantic model the strict reader uses:
   repeating members come from a bounded cache keyed by their exact bytes (their
   validation is a pure function of those bytes), the others are validated fresh —
   parsed strictly (duplicate keys, NaN) unless their re-encoding is byte-identical
   to what was received, which excludes both;
4. the manifest and statement are assembled without re-validation and their own
   model validators are run.

Cached members are shared between the manifests that carry them: the models are frozen,
and nothing in the library changes their lists in place (nothing may).

Anything outside that shape — or any member that fails — goes to the strict reader
(:meth:`Statement.from_json`), which accepts or rejects it and explains why. The two
readers return equal statements for every input the fast one accepts; the
differential tests in ``tests/model/test_fastread.py`` say so for real manifests and
for mutated ones.
"""

from __future__ import annotations

from typing import Any

import msgspec
from pydantic import TypeAdapter
from pydantic_core import to_json

from attest._internal.memo import Bounded
from attest.crypto.canonical import DEFAULT_MAX_BYTES, MSGSPEC_ERRORS, strict_loads
from attest.errors import InputError
from attest.model.base import construct, field_adapter
from attest.model.manifest import PREDICATE_TYPE, WorkloadManifest
from attest.model.statement import STATEMENT_TYPE, Statement

__all__ = ["clear_cache", "read_statement"]

# Members that repeat across a node's manifests: validated once per distinct byte string.
_STABLE = frozenset({"tenant", "operator", "site", "node", "gpus", "licenses", "location_evidence"})
_CACHE_ENTRIES = 256  # per member
_CACHE_MAX_SPAN = 64 * 1024  # larger members are validated every time, never kept


def _model_checks(model: type[Any]) -> list[Any]:
    """The ``after`` model validators of ``model``; refuse models the assembler cannot honour."""
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.root_validators or decorators.validators:
        raise TypeError(f"{model.__name__} has field validators; the fast reader would skip them")
    checks = []
    for dec in decorators.model_validators.values():
        if dec.info.mode != "after":
            raise TypeError(f"{model.__name__} has a {dec.info.mode!r} model validator")
        checks.append(dec.func)
    return checks


_MANIFEST_CHECKS = _model_checks(WorkloadManifest)
_STATEMENT_CHECKS = _model_checks(Statement)

_MANIFEST_FIELDS = {name: f.alias or name for name, f in WorkloadManifest.model_fields.items()}
assert list(Statement.model_fields) == ["type", "subject", "predicate_type", "predicate"]


def _structs(order: str) -> tuple[Any, Any]:
    """Decoders for the statement and the manifest whose members come in ``order``.

    Two orders are read fast: the models' own (what :func:`attest.sign.sign_manifest` writes)
    and RFC 8785's sorted one (what the daemon's template signer writes). Re-encoding a
    decoded struct writes its members in the struct's order, which is how a payload in any
    other order, or with a member twice, is told apart.
    """
    by_wire: dict[str, tuple[str, Any] | tuple[str, Any, Any]] = {
        "_type": ("type", str, msgspec.field(name="_type")),
        "subject": ("subject", msgspec.Raw),
        "predicateType": ("predicateType", str),
        "predicate": ("predicate", msgspec.Raw),
    }
    wires, member_wires = list(by_wire), list(_MANIFEST_FIELDS.values())
    if order == "sorted":  # by UTF-16 code units; these names are ASCII
        wires.sort()
        member_wires.sort()
    top = [by_wire[w] for w in wires]
    members = [(w, msgspec.Raw) for w in member_wires]
    return (
        msgspec.json.Decoder(msgspec.defstruct(f"_Top_{order}", top, forbid_unknown_fields=True)),
        msgspec.json.Decoder(msgspec.defstruct(f"_Manifest_{order}", members, forbid_unknown_fields=True)),
    )


_MODEL_ORDER = _structs("model")
_SORTED_ORDER = _structs("sorted")
# What follows ``{"_type":"…",`` tells the two orders apart.
_SORTED_AFTER_TYPE = b'{"_type":"' + STATEMENT_TYPE.encode() + b'","predicate":'
_ENCODE = msgspec.json.Encoder().encode
_DECODE_ANY = msgspec.json.Decoder().decode


_ADAPTERS = {name: field_adapter(info) for name, info in WorkloadManifest.model_fields.items()}
_SUBJECTS = field_adapter(Statement.model_fields["subject"])

_cache: dict[str, Bounded[bytes, Any]] = {name: Bounded(_CACHE_ENTRIES) for name in _STABLE}


def clear_cache() -> None:
    """Forget every cached member (tests; or to bound memory after a large audit)."""
    for members in _cache.values():
        members.clear()


class _NotFast(Exception):
    """This input is for the strict reader."""


def _fresh(adapter: TypeAdapter[Any], raw: bytes) -> Any:
    """Validate one member's bytes exactly as the strict reader would."""
    try:
        # Re-encoding what msgspec read (as pydantic writes JSON) gives these very bytes only
        # when no key repeats (a repeat would be dropped), every number and string is spelled
        # as pydantic spells it and nothing else (NaN, a comment) is there: then pydantic's own
        # JSON parser reads what the strict parser would. Otherwise parse strictly, as the
        # strict reader does.
        exact = to_json(_DECODE_ANY(raw)) == raw
    except MSGSPEC_ERRORS:
        exact = False
    try:
        if exact:
            return adapter.validator.validate_json(raw)
        return adapter.validator.validate_python(strict_loads(raw, what="member"))
    except (ValueError, InputError):  # pydantic's ValidationError is a ValueError
        raise _NotFast from None


def _member(name: str, raw: bytes) -> Any:
    if name not in _STABLE or len(raw) > _CACHE_MAX_SPAN:
        return _fresh(_ADAPTERS[name], raw)
    members = _cache[name]
    value = members.get(raw)
    if value is None:
        value = _fresh(_ADAPTERS[name], raw)
        members.put(raw, value)
    return value


def _read_fast(payload: bytes) -> Statement:
    top_decoder, manifest_decoder = _SORTED_ORDER if payload.startswith(_SORTED_AFTER_TYPE) else _MODEL_ORDER
    try:
        top = top_decoder.decode(payload)
        predicate = manifest_decoder.decode(top.predicate)
    except MSGSPEC_ERRORS:
        raise _NotFast from None
    if top.type != STATEMENT_TYPE or top.predicateType != PREDICATE_TYPE:
        raise _NotFast
    if _ENCODE(top) != payload or _ENCODE(predicate) != bytes(top.predicate):
        raise _NotFast  # duplicate keys, whitespace, another order or spelling
    values = {name: _member(name, bytes(getattr(predicate, wire))) for name, wire in _MANIFEST_FIELDS.items()}
    manifest = construct(WorkloadManifest, values)
    try:
        for check in _MANIFEST_CHECKS:
            check(manifest)
        subjects = _fresh(_SUBJECTS, bytes(top.subject))
        statement = construct(
            Statement,
            {
                "type": STATEMENT_TYPE,
                "subject": subjects,
                "predicate_type": PREDICATE_TYPE,
                "predicate": manifest,
            },
        )
        for check in _STATEMENT_CHECKS:
            check(statement)
    except ValueError:
        raise _NotFast from None
    return statement


def read_statement(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Statement:
    """Read a signed payload as a Statement: the fast reader, else the strict one.

    Raises:
        InputError: from the strict reader, when the payload is not a valid statement.
    """
    if len(payload) <= max_bytes:
        try:
            return _read_fast(payload)
        except _NotFast:
            pass
    return Statement.from_json(payload, what="statement", max_bytes=max_bytes)
