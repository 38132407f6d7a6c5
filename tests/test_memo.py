"""The hot paths' memos: bounded, and by identity never by equality."""

from __future__ import annotations

from attest.memo import Bounded, ByIdentity


def test_bounded_forgets_the_oldest() -> None:
    memo: Bounded[str, int] = Bounded(3)
    for i, k in enumerate("abcd"):
        memo.put(k, i)
    assert len(memo) == 3 and memo.get("a") is None and memo.get("d") == 3
    memo.clear()
    assert memo.get("d") is None


def test_by_identity_finds_the_same_objects_only() -> None:
    memo: ByIdentity[str] = ByIdentity(8)
    a, b = [1, 2], [1, 2]  # equal, not the same
    memo.put("for a", a, "x")
    assert memo.get(a, "x") == "for a"
    assert memo.get(b, "x") is None  # an equal list is another list
    assert memo.get(a) is None  # and the key is all the objects
    del a  # the memo holds the list: its id cannot be taken by a new object while kept
    c = [9]
    assert memo.get(c, "x") is None


def test_by_identity_is_bounded() -> None:
    memo: ByIdentity[int] = ByIdentity(2)
    objs = [object() for _ in range(3)]
    for i, o in enumerate(objs):
        memo.put(i, o)
    assert memo.get(objs[0]) is None and memo.get(objs[2]) == 2


def test_by_identity_keys_on_extra_values_too() -> None:
    memo: ByIdentity[str] = ByIdentity(8)
    a = [1]
    memo.put("on monday", a, extra=("2026-11-23", 1.0))
    assert memo.get(a, extra=("2026-11-23", 1.0)) == "on monday"
    assert memo.get(a, extra=("2026-11-24", 1.0)) is None
    assert memo.get(a) is None  # no extra is another key
