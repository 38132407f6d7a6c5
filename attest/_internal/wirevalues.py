"""Timestamps and trusted model instances: the small functions every decoded manifest passes through.

:mod:`attest.model.base` re-exports each of them (that is where the wire models and their users
name them). They live here so that ``setup.py`` compiles them with the verifier
(:mod:`attest._internal.native`): the verifier's hot path calls them for every timestamp it
reads and every model it builds from already-validated values, and as interpreted functions
they were a tenth of what a heartbeat costs beside its signature.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from attest.errors import InputError

__all__ = [
    "EARLIEST",
    "LATEST",
    "assemble",
    "construct",
    "format_timestamp",
    "parse_timestamp",
    "require_aware",
    "shift",
    "shift_back",
]

_RFC3339: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest moment a timestamp may name (the Unix epoch)."""
LATEST: Final = datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""The latest moment a timestamp may name.

Every moment this library reads lies in [EARLIEST, LATEST]: far enough from ``datetime.min`` and
``datetime.max`` that any skew, validity or age the verifier allows can be added or taken away
without an ``OverflowError`` (a signed ``expires_at`` of 9999-12-31 once crashed whole batches),
and wide enough for any real manifest, certificate window or trust scope.
"""


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(
            f"timestamp {format_timestamp(value)} is outside the years 1970 to 2199 that a timestamp may name"
        )
    return value


def parse_timestamp(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset into an aware UTC datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a time zone")
        return _in_range(_to_utc(value))
    if (
        type(value) is str
        and len(value) == 20
        and value[19] == "Z"
        and value[10] == "T"
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
        and value.isascii()
    ):
        # The common form, YYYY-MM-DDTHH:MM:SSZ (a subset of RFC 3339): with every separator in
        # its place, fromisoformat reads the rest only as ASCII digits (tests/model/test_models.py
        # holds this path to exactly what _RFC3339 accepts).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None  # the general path below explains it
        if parsed is not None and parsed.tzinfo is UTC:
            if "1970" <= value[:4] <= "2199":
                return parsed
            return _in_range(parsed)
    if not isinstance(value, str):
        raise ValueError("timestamp must be RFC 3339 with a time zone, e.g. 2026-11-28T09:00:00Z")
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError("timestamp must be RFC 3339 with a time zone, e.g. 2026-11-28T09:00:00Z")
    text = value
    fraction = m[1]
    if fraction and len(fraction) > 7:  # datetime keeps microseconds; drop finer digits
        text = value[: m.start(1) + 7] + value[m.end(1) :]
    return _in_range(_to_utc(datetime.fromisoformat(text.upper())))


def _to_utc(value: datetime) -> datetime:
    """``value`` in UTC; a moment that UTC cannot hold (0001-01-01T00:00:00+01:00) is a ValueError."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"timestamp {value.isoformat()} is outside the years 1970 to 2199 that a timestamp may name"
        ) from None


def require_aware(value: datetime, name: str = "now") -> datetime:
    """``value`` if it carries a time zone; otherwise a clear :class:`InputError` (not a TypeError later).

    Every moment this library compares is aware: a naive ``datetime`` (``datetime.now()``,
    ``datetime(2026, 11, 28)``) would fail deep inside with "can't compare offset-naive and
    offset-aware datetimes", or be read in the machine's local time.
    """
    if not isinstance(value, datetime):
        raise InputError(f"{name} must be a datetime with a time zone, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} {value.isoformat()} has no time zone: give an aware datetime",
            hint="e.g. datetime.now(UTC) or datetime(2026, 11, 28, 9, 0, tzinfo=UTC) (from datetime import UTC)",
        )
    try:
        _in_range(_to_utc(value))
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None
    return value


def shift(at: datetime, delta: timedelta) -> datetime:
    """``at + delta``, held at the ends of the calendar instead of raising ``OverflowError``.

    Every sum of a moment and a span on the verifying paths goes through it: the moment may come
    from a signed manifest and the span from a caller, and no pair of them may crash a batch.
    """
    try:
        return at + delta
    except OverflowError:
        end = datetime.max if delta > timedelta(0) else datetime.min
        return end.replace(tzinfo=at.tzinfo)


def shift_back(at: datetime, delta: timedelta) -> datetime:
    """``at - delta``, held at the ends of the calendar (``-delta`` itself can overflow, as :func:`shift` can)."""
    try:
        return at - delta
    except OverflowError:
        end = datetime.min if delta > timedelta(0) else datetime.max
        return end.replace(tzinfo=at.tzinfo)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with ``Z`` (microseconds only when present)."""
    # isoformat leaves the fraction out when it is zero and always writes four year digits.
    if value.tzinfo is UTC:  # every parsed timestamp: its isoformat ends in "+00:00"
        return value.isoformat()[:-6] + "Z"
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


_M = TypeVar("_M", bound=BaseModel)


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
    return assemble(model, values, set(values))


def assemble(model: type[_M], values: dict[str, Any], given: set[str]) -> _M:
    """:func:`construct` without its check of the keys, for builders that write every field by name.

    The derived wire readers (:mod:`attest.model.wire`) call it from code generated per model,
    which names each field once; ``values`` must be complete and validated, and ``given``
    names the fields the input gave (``model_fields_set``).
    """
    obj = _new(model)
    _set_dict(obj, values)
    _set_given(obj, given)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def _slot_setters() -> tuple[Any, Any, Any, Any]:
    """The setters of the four slots every pydantic model instance has, taken from ``BaseModel`` itself.

    Calling a slot's own descriptor skips the attribute look-up through the model's class
    hierarchy that ``object.__setattr__`` makes for each of them (a third of building a model).
    Anything but the expected descriptors (another pydantic layout) falls back to that look-up.
    """
    slots = BaseModel.__dict__
    names = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
    kinds = ("getset_descriptor", "member_descriptor", "member_descriptor", "member_descriptor")
    if all(type(slots.get(n)).__name__ == k for n, k in zip(names, kinds, strict=True)):
        d, g, e, p = (slots[n].__set__ for n in names)
        return d, g, e, p
    setter = object.__setattr__

    def one(name: str) -> Any:
        return lambda obj, value: setter(obj, name, value)

    return one(names[0]), one(names[1]), one(names[2]), one(names[3])


_new: Final = object.__new__
_set_dict, _set_given, _set_extra, _set_private = _slot_setters()
