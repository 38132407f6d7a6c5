"""Strict JSON in, canonical JSON out.

Anything that a signature covers or that feeds a verdict is parsed with
:func:`strict_loads`: UTF-8 only, a size limit, no duplicate object keys, no
``NaN``/``Infinity``, bounded nesting. Where a digest of JSON is taken (the
per-node ``previous`` chain) the JSON is first put in the RFC 8785 (JCS)
canonical form, so that any implementation computes the same digest.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785

from attest.errors import InputError

DEFAULT_MAX_BYTES = 1024 * 1024
"""Default size limit for one envelope or manifest (1 MiB)."""


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
        raise InputError(f"{what} is {size} bytes, over the limit of {max_bytes} bytes")
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


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical encoding of a JSON value."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise InputError(f"value cannot be canonicalized: {exc}") from None


def json_digest(value: Any) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
