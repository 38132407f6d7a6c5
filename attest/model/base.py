"""Shared building blocks of the wire models: strict config, timestamps, codes.

Every wire model is strict (no silent type coercion), forbids unknown fields
(the predicate type URI carries a version instead), and round-trips through
:meth:`WireModel.from_json` / :meth:`WireModel.to_json`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Self, TypeVar

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

from attest.crypto.canonical import DEFAULT_MAX_BYTES, strict_loads
from attest.errors import InputError
from attest.model.countries import ACCEPTED_COUNTRY_CODES

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset into an aware UTC datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a time zone")
        return value.astimezone(UTC)
    if not isinstance(value, str) or not (m := _RFC3339.match(value)):
        raise ValueError("timestamp must be RFC 3339 with a time zone, e.g. 2026-11-28T09:00:00Z")
    text = value
    if m[1] and len(m[1]) > 7:  # datetime keeps microseconds; drop finer digits
        text = value[: m.start(1) + 7] + value[m.end(1) :]
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with ``Z`` (microseconds only when present)."""
    # isoformat leaves the fraction out when it is zero and always writes four year digits.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


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


_M = TypeVar("_M", bound=BaseModel)


def field_adapter(info: FieldInfo) -> TypeAdapter[Any]:
    """A validator and serializer for one model field's value, with the field's own constraints."""
    return TypeAdapter(Annotated[info.annotation, info])  # type: ignore[arg-type]


def construct(model: type[_M], values: dict[str, Any]) -> _M:
    """Build ``model`` from values that are already valid, every field given, without validating.

    What :meth:`BaseModel.model_construct` does when every field is given, at a fraction of its
    cost; for the verifier's hot path, where each value was validated on its way in (or built
    from validated ones). ``values`` becomes the instance's ``__dict__``.

    Raises:
        TypeError: when a field is missing or unknown.
    """
    if values.keys() != model.__pydantic_fields__.keys():
        raise TypeError(
            f"{model.__name__}: fields {sorted(values)} are not {sorted(model.__pydantic_fields__)}"
        )
    obj = model.__new__(model)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_set = object.__setattr__


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

    @classmethod
    def from_json(
        cls, data: bytes | str, *, what: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> Self:
        """Parse strictly (see :func:`attest.crypto.canonical.strict_loads`) and validate."""
        label = what or cls.__name__
        return cls.from_obj(strict_loads(data, what=label, max_bytes=max_bytes), what=label)

    @classmethod
    def from_obj(cls, obj: Any, *, what: str | None = None) -> Self:
        """Validate an already parsed JSON value, turning errors into one readable message."""
        try:
            return cls.model_validate(obj)
        except ValidationError as exc:
            raise InputError(
                f"{what or cls.__name__} is not valid: {describe_validation_error(exc)}"
            ) from None

    def to_obj(self) -> Any:
        """Return the JSON value of this model (None fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return JSON text of this model (None fields left out)."""
        return self.model_dump_json(indent=indent, by_alias=True, exclude_none=True)


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """Render a pydantic error as short ``field.path: problem`` items."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)
