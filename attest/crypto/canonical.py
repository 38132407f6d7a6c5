"""Strict JSON in, canonical JSON out.

Anything that a signature covers or that feeds a verdict is parsed with
:func:`strict_loads`: UTF-8 only, a size limit, no duplicate object keys, no
``NaN``/``Infinity``, bounded nesting. Where a digest of JSON is taken (the
per-node ``previous`` chain, default workload subjects) the JSON is first put
in the RFC 8785 (JCS) canonical form, so that any implementation computes the
same digest. The encoder here is tested against the ``rfc8785`` reference
implementation; it is several times faster, which matters on the verify path.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Callable
from typing import Any, Final

from attest.errors import InputError, InputTooLarge

DEFAULT_MAX_BYTES: Final = 1024 * 1024
"""Default size limit for one envelope or manifest (1 MiB)."""


Bytes = bytes | bytearray | memoryview
"""What the readers of envelopes take: bytes, or a buffer (read as it holds them then, see :func:`input_bytes`)."""


def input_bytes(data: object, what: str = "an envelope") -> bytes:
    """``data`` as bytes: ``bytes`` as it is, a bytearray or memoryview copied as it holds them now.

    Raises:
        TypeError: for anything else (a ``str`` included: an envelope's identity is its bytes).
    """
    if type(data) is bytes:
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{what} is bytes (or a bytearray or memoryview), not {type(data).__name__}")


class _DuplicateKeyError(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(f"duplicate JSON key {key!r}")
            seen.add(key)
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def strict_loads(data: bytes | str, *, what: str = "input", max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse JSON strictly.

    Args:
        data: the raw bytes (must be UTF-8) or text.
        what: a name for the input, used in error messages.
        max_bytes: inputs larger than this are refused before parsing.

    Returns:
        The parsed JSON value.

    Raises:
        InputError: oversize, not UTF-8, malformed JSON, duplicate keys,
            NaN/Infinity, or nesting too deep.
    """
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > max_bytes:
        raise InputTooLarge(what, size, max_bytes)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    else:
        text = data
    try:
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except _DuplicateKeyError as exc:
        raise InputError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # NaN/Infinity, over-long integers
        raise InputError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{what} is nested too deeply") from None


SAFE_INTEGER = 2**53 - 1
"""I-JSON (RFC 7493): the largest integer every JSON implementation reads exactly."""

MSGSPEC_ERRORS: tuple[type[Exception], ...] = (ValueError, RecursionError)
"""What msgspec's JSON decoders raise on bad input: its DecodeError (a ValueError), and also
UnicodeDecodeError for bytes that are not UTF-8 and RecursionError for deep nesting. Every
fast path that reads with msgspec catches all of them and leaves the input to a strict reader."""


def es6_number(value: float) -> str:
    """Format a finite double as ECMAScript's Number.prototype.toString (RFC 8785 section 3.2.2.3)."""
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")  # shortest round-trip digits
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.digits x 10^n, before trimming
    n = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return (
        sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    )


def _jcs(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(encode_string(value))
    elif isinstance(value, int):
        if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            raise InputError(f"integer {value} is outside the I-JSON safe range (2^53 - 1)")
        out.append(str(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("NaN and Infinity have no canonical JSON form")
        out.append(es6_number(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _jcs(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        # RFC 8785 sorts member names by their UTF-16 code units.
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if not isinstance(key, str):
                raise InputError(f"object member name {key!r} is not a string")
            if i:
                out.append(",")
            out.append(encode_string(key))
            out.append(":")
            _jcs(value[key], out)
        out.append("}")
    else:
        raise InputError(f"a {type(value).__name__} is not a JSON value")


def _utf16_key(key: Any) -> bytes:
    return key.encode("utf-16-be", "surrogatepass") if isinstance(key, str) else b""


# JSON string escaping as RFC 8785 requires: \" and \\, the five short escapes, other
# control characters as lowercase \u00xx, everything else (non-ASCII too) as is.
encode_string: Callable[[str], str] = json.encoder.encode_basestring


class _NeedsFullEncoder(Exception):
    pass


def _swap_floats(value: Any, floats: list[float], tag: str) -> Any:
    """Copy ``value`` with every float replaced by a placeholder string; check ints and keys."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise InputError(f"object member name {k!r} is not a string")
            out[k] = v if type(v) is str else _swap_floats(v, floats, tag)
        return out
    if kind is list:
        return [v if type(v) is str else _swap_floats(v, floats, tag) for v in value]
    if kind is int:
        if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            raise InputError(f"integer {value} is outside the I-JSON safe range (2^53 - 1)")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise InputError("NaN and Infinity have no canonical JSON form")
        floats.append(value)
        return f"{tag}{len(floats) - 1}\x00"
    raise _NeedsFullEncoder  # tuples, subclasses, other types: the complete encoder decides


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


# Floats are swapped for "<tag><n>\x00" strings before the C encoder runs. The tag is random per
# process and never leaves it, so no input string can forge a placeholder.
_TAG = f"\x00{secrets.token_hex(8)}:"
_ESCAPED_TAG = json.dumps(_TAG)[1:-1]
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical encoding of a JSON value.

    For the common case the C JSON encoder does the work: with sorted keys and
    no whitespace its output is RFC 8785, except for numbers written as
    doubles (swapped for placeholders, then formatted as ECMAScript does) and
    for key order among characters beyond U+FFFF (then the complete, slower
    encoder runs instead).

    Raises:
        InputError: for values JSON cannot carry canonically (NaN, integers beyond
            2^53 - 1, non-string member names, lone surrogates, other Python types).
    """
    floats: list[float] = []
    tag = _TAG
    text: str | None
    try:
        text = _SORTED_COMPACT(_swap_floats(value, floats, tag))
    except _NeedsFullEncoder:
        text = None
    if text is not None and _ASTRAL.search(text):
        text = None
    if text is not None:
        for i, number in enumerate(floats):
            text = text.replace(f'"{_ESCAPED_TAG}{i}\\u0000"', es6_number(number), 1)
    else:
        out: list[str] = []
        _jcs(value, out)
        text = "".join(out)
    return encode_utf8(text)


def encode_utf8(text: str) -> bytes:
    """The UTF-8 bytes of canonical JSON text.

    Raises:
        InputError: when a string holds a lone UTF-16 surrogate, which I-JSON forbids.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("a string holds a lone UTF-16 surrogate, which I-JSON forbids") from None


def json_digest(value: Any) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
