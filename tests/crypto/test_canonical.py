import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.crypto.canonical import canonical_json, json_digest, strict_loads
from attest.errors import InputError


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": 1, "a": 2}', "duplicate JSON key 'a'"),
        ('{"x": {"b": 1, "b": 1}}', "duplicate JSON key 'b'"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ('{"a": Infinity}', "Infinity is not valid JSON"),
        ('{"a": -Infinity}', "-Infinity is not valid JSON"),
        ('{"a": 1e999}', "out of range"),
        ('{"a": ', "not valid JSON"),
        ("", "not valid JSON"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
)
def test_strict_loads_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        strict_loads(text, what="thing", max_bytes=10**7)
    assert fragment in err.value.message


def test_strict_loads_rejects_non_utf8_and_oversize() -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        strict_loads('{"a": "é"}'.encode("latin-1"))
    with pytest.raises(InputError, match="over the limit of 10 bytes"):
        strict_loads(b'{"a": "0123456789"}', max_bytes=10)
    with pytest.raises(InputError, match="not UTF-8"):  # UTF-16 is not auto-detected
        strict_loads('{"a": 1}'.encode("utf-16"))


def test_strict_loads_accepts_plain_json() -> None:
    assert strict_loads(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


def test_canonical_json_rfc8785_examples() -> None:
    # RFC 8785 section 3.2.2/3.2.3: sorted keys, shortest numbers, minimal escapes.
    assert canonical_json({"b": 1, "a": [1.0, 1e21, 1e-7, "\u20ac\n"]}) == b'{"a":[1,1e+21,1e-7,"\xe2\x82\xac\\n"],"b":1}'
    assert json_digest({"a": 1}) == json_digest(json.loads('{ "a" : 1.0 }'))


json_values = st.recursive(
    # The I-JSON number domain (RFC 7493), which RFC 8785 assumes.
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(-(2.0**53) + 1, 2.0**53 - 1, allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1000)
@given(json_values)
def test_canonical_json_matches_the_rfc8785_reference(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_formats_like_ecmascript(value: float) -> None:
    # The reference refuses integral doubles beyond 2^53; compare where it answers.
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (-0.0, "0"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
     (1.5e-6, "0.0000015"), (123.456, "123.456"), (-3.1e24, "-3.1e+24"), (5e-324, "5e-324"),
     (1.7976931348623157e308, "1.7976931348623157e+308"), (0.1, "0.1"), (100.0, "100")],
)
def test_es6_number_examples(value: float, text: str) -> None:
    assert canonical_json(value) == text.encode()


def test_canonical_json_refuses_what_json_cannot_carry() -> None:
    for bad in [float("nan"), 2**53, {1: "a"}, object(), "\ud800"]:
        with pytest.raises(InputError):
            canonical_json(bad)


@given(json_values)
def test_canonical_json_round_trips(value: object) -> None:
    # Whatever the value, its canonical form parses back to an equal value and is stable.
    encoded = canonical_json(value)
    decoded = strict_loads(encoded)
    assert canonical_json(decoded) == encoded

    # JSON numbers compare by value: 1.0 == 1 and -0.0 == 0, as RFC 8785 serializes them.
    assert decoded == value
