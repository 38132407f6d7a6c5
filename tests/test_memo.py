"""The hot paths' memos: bounded, and by identity never by equality."""

from __future__ import annotations

from attest._internal.memo import Bounded, ByIdentity


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


def test_memos_pickle_empty_so_objects_holding_them_reach_spawned_processes() -> None:
    import pickle

    bounded: Bounded[str, int] = Bounded(3)
    bounded.put("a", 1)
    by_id: ByIdentity[str] = ByIdentity(4)
    obj = [1]
    by_id.put("x", obj, extra=1)
    b2, i2 = pickle.loads(pickle.dumps((bounded, by_id)))
    assert len(b2) == 0 and b2.limit == 3 and i2.get(obj, extra=1) is None  # identities are per process
    b2.put("b", 2)
    assert b2.get("b") == 2


def test_a_used_policy_pickles_and_judges_alike() -> None:
    import pickle

    from attest.hardware.catalog import bundled_catalog
    from attest.policy import Facts, load_policy
    from tests.conftest import NOW, trusted_node

    policy = load_policy("us-ear")
    m = trusted_node().manifest()
    facts = Facts("declared", [bundled_catalog().classify_gpu(g) for g in m.gpus])
    first = [f.to_obj() for f in policy.evaluate(m, now=NOW, facts=facts)]  # the memo now holds a verdict
    copy = pickle.loads(pickle.dumps(policy))
    assert [f.to_obj() for f in copy.evaluate(m, now=NOW, facts=facts)] == first
