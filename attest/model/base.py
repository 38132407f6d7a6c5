"""Shared building blocks of the wire models: strict config, timestamps, codes.

Every wire model is strict (no silent type coercion), forbids unknown fields
(the predicate type URI carries a version instead), and round-trips through
:meth:`WireModel.from_json` / :meth:`WireModel.to_json`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo

# The helpers live in the compiled attest._internal.wirevalues: re-exported in one statement.
# isort: off
from attest._internal.wirevalues import (
    EARLIEST as EARLIEST,
    LATEST as LATEST,
    assemble as assemble,
    construct as construct,
    format_timestamp as format_timestamp,
    parse_timestamp as parse_timestamp,
    require_aware as require_aware,
    shift as shift,
    shift_back as shift_back,
)

# isort: on
from attest.crypto.canonical import DEFAULT_MAX_BYTES, strict_loads
from attest.errors import InputError
from attest.model.countries import ACCEPTED_COUNTRY_CODES

Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json-unless-none"),
    Field(json_schema_extra={"format": "date-time"}),
]
"""An RFC 3339 timestamp, stored as an aware UTC datetime, written with ``Z``."""


def _country(value: Any) -> str:
    if not isinstance(value, str) or value not in ACCEPTED_COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (upper case, e.g. MY)")
    return value


CountryCode = Annotated[
    str,
    AfterValidator(_country),  # checks the ISO list, with a message that names the problem
    Field(description="ISO 3166-1 alpha-2 country code", json_schema_extra={"pattern": "^[A-Z]{2}$"}),
]

HexSha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""Lowercase hex of a SHA-256 digest (also the key id form)."""

PrefixedDigest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
"""``sha256:`` followed by lowercase hex."""

Name = Annotated[str, Field(min_length=1, max_length=512)]

FacilityId = Annotated[str, Field(min_length=1, max_length=128)]
"""A site's facility id (``Site.facility_id``, and the sites a trusted key is scoped to)."""


def field_adapter(info: FieldInfo) -> TypeAdapter[Any]:
    """A validator and serializer for one model field's value, with the field's own constraints."""
    return TypeAdapter(Annotated[info.annotation, info])  # type: ignore[arg-type]


class WireModel(BaseModel):
    """Base of every model that is read from or written to a file or the network."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        str_max_length=65536,
        populate_by_name=True,
    )

    wire_spelling_only: ClassVar[bool] = True
    """Whether :meth:`from_obj` reads an aliased field under its alias only (``_type``,
    ``predicateType``, ``payloadType``: the wire format's one spelling), here and in every model
    it holds. The models of user-written files whose documentation also names the field (policy
    clearances and screening lists: ``list`` or ``list_id``) set it False. Python code builds
    any model by field name either way (``populate_by_name``)."""

    @classmethod
    def from_json(
        cls, data: bytes | str, *, what: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> Self:
        """Parse strictly (see :func:`attest.crypto.canonical.strict_loads`) and validate."""
        label = what or cls.__name__
        return cls.from_obj(strict_loads(data, what=label, max_bytes=max_bytes), what=label)

    @classmethod
    def from_obj(cls, obj: Any, *, what: str | None = None) -> Self:
        """Validate an already parsed JSON value, turning errors into one readable message.

        A field written under its Python name where the wire spells it otherwise (``type`` for
        ``_type``) is refused, naming the key and its one spelling (see :attr:`wire_spelling_only`).
        """
        try:
            if cls.wire_spelling_only:
                return cls.model_validate(obj, by_alias=True, by_name=False)
            return cls.model_validate(obj)
        except ValidationError as exc:
            spelled = _spellings(cls) if cls.wire_spelling_only else {}
            raise InputError(
                f"{what or cls.__name__} is not valid: {describe_validation_error(exc, spelled=spelled)}"
            ) from None

    def to_obj(self) -> Any:
        """Return the JSON value of this model (None fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return JSON text of this model (None fields left out)."""
        return self.model_dump_json(indent=indent, by_alias=True, exclude_none=True)


def _spellings(model: type[BaseModel]) -> dict[tuple[str, ...], str]:
    """Each aliased field of ``model`` and the models it holds, by its path under its Python name.

    The value is the field's wire spelling: ``("type",)`` → ``_type``. Paths are as pydantic's error locations give them; a list's items take any index (``*``).
    """
    out: dict[tuple[str, ...], str] = {}

    def walk(m: type[BaseModel], at: tuple[str, ...], seen: frozenset[type[BaseModel]]) -> None:
        for name, info in m.model_fields.items():
            wire = info.alias or name
            if wire != name:
                out[(*at, name)] = wire
            for inner in _models_in(info.annotation):
                if inner not in seen:
                    many = _is_list(info.annotation)
                    walk(inner, (*at, wire, "*") if many else (*at, wire), seen | {inner})

    walk(model, (), frozenset({model}))
    return out


def _models_in(tp: Any) -> list[type[BaseModel]]:
    """The models an annotation holds (``X``, ``X | None``, ``list[X]``)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def _is_list(tp: Any) -> bool:
    """Whether an annotation is a list (``list[X]``, ``list[X] | None``)."""
    return get_origin(tp) is list or any(_is_list(a) for a in get_args(tp))


def describe_validation_error(
    exc: ValidationError, limit: int = 5, *, spelled: dict[tuple[str, ...], str] | None = None
) -> str:
    """Render a pydantic error as short ``field.path: problem`` items, in words, not pydantic's.

    No class name of ours (``instance of TrustStoreFile``) and no regular expression reaches a
    user: a pattern is said as what it asks for (``64 lowercase hex digits``). ``spelled``
    (from :func:`_spellings`) names the wire spelling of a key written under a field's Python name.
    """
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        path = tuple("*" if isinstance(p, int) else str(p) for p in err["loc"])
        wire = (spelled or {}).get(path) if err["type"] == "extra_forbidden" else None
        if wire is not None:
            parts.append(f"{loc}: unknown field (the wire format has one spelling of this key: {wire!r})")
            continue
        parts.append(f"{loc}: {_problem(err)}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null"}
_EXPECTED = {
    "model_type": "a JSON object",
    "dict_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "a JSON array",
    "tuple_type": "a JSON array",
    "set_type": "a JSON array",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "datetime_type": "an RFC 3339 timestamp (2026-11-28T09:00:00Z)",
    "datetime_parsing": "an RFC 3339 timestamp (2026-11-28T09:00:00Z)",
    "datetime_from_date_parsing": "an RFC 3339 timestamp (2026-11-28T09:00:00Z)",
    "timezone_aware": "a timestamp with its time zone (2026-11-28T09:00:00Z)",
}
_PATTERNS = {
    r"^[A-Z]{2}$": "a two-letter ISO 3166-1 country code in capitals (MY, US)",
    r"^https?://": "an http:// or https:// URL",
    r"^(GPU|MIG)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$": (
        "a GPU UUID (GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0)"
    ),
    r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$": "a PCI bus id (00000000:18:00.0)",
    r"^\d+\.\d+$": "a version like 1.0",
}
_HEX = re.compile(r"\^(?P<prefix>[a-z0-9]*:)?\[0-9a-f\](?:\{(?P<n>\d+)(?:,(?P<m>\d+))?\}|(?P<plus>\+))\$")


def _pattern_words(pattern: str) -> str:
    """What a field's pattern asks for, in words."""
    if pattern in _PATTERNS:
        return _PATTERNS[pattern]
    hexed = _HEX.fullmatch(pattern)
    if hexed:
        n, m = hexed["n"], hexed["m"]
        count = "lowercase hex digits" if hexed["plus"] else f"{n} lowercase hex digits"
        if m:
            count = f"{n} to {m} lowercase hex digits ({int(n) // 2} to {int(m) // 2} bytes)"
        elif n:
            count += f" ({int(n) // 2} bytes)"
        return f"{hexed['prefix']} followed by {count}" if hexed["prefix"] else count
    if re.fullmatch(r"\^\[a-z0-9[^\]]*\][^$]*\$", pattern):
        return "lowercase letters, digits and - . _ only"
    return "a value of another form"


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(err: Any) -> str:
    """One validation problem in words."""
    kind, value = err["type"], err.get("input")
    if kind in _EXPECTED:
        got = _JSON_TYPES.get(type(value), "a number" if isinstance(value, int | float) else "another value")
        return f"expected {_EXPECTED[kind]}, not {got}" + (
            f" ({_shown(value)})" if got != _JSON_TYPES[dict] else ""
        )
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch":
        return f"{_shown(value)} is not {_pattern_words(str(err.get('ctx', {}).get('pattern', '')))}"
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = re.sub(r" or instance of \w+", "", msg)
    return msg.replace("Input should be", "should be").replace("String should", "should")
