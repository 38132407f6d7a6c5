import json
from datetime import timedelta
from pathlib import Path

import pytest

from attest.crypto.keys import Algorithm, SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import TrustStoreError
from tests.conftest import NOW


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    k1, k2 = SigningKey.generate(), SigningKey.generate(Algorithm.ECDSA_P384)
    store = TrustStore().with_key(k1.public, operator="Op", sites=["a"], countries=["MY"], not_after=NOW)
    store = store.with_key(k2.public).with_revoked("f" * 64)
    path = tmp_path / "trust.json"
    store.save(path)
    again = TrustStore.load(path)
    assert again.document == store.document
    assert again.get(k1.key_id) and again.get(k1.key_id).scope.countries == ["MY"]  # type: ignore[union-attr]
    assert again.get(k2.key_id).key.algorithm is Algorithm.ECDSA_P384  # type: ignore[union-attr]
    assert again.is_revoked("f" * 64) and not again.is_revoked(k1.key_id)
    assert json.loads(path.read_text())["version"] == 1


def test_rescoping_is_refused_unless_replace_and_then_replaces_the_entry() -> None:
    k = SigningKey.generate()
    store = TrustStore().with_key(k.public, operator="Op", countries=["MY"])
    # Re-added with fewer limits, the key would be trusted for any operator anywhere: refused.
    with pytest.raises(TrustStoreError, match=r"already trusted with another scope .*operator 'Op' -> None"):
        store.with_key(k.public, sites=["y"])
    assert store.with_key(k.public, operator="Op", countries=["MY"]) is store  # the same scope: unchanged
    store = store.with_key(k.public, sites=["b"], replace=True)
    assert [(e.scope.operator, e.scope.sites, e.scope.countries) for e in store.entries] == [(None, ["b"], [])]


def test_revoked_key_cannot_be_trusted_again() -> None:
    k = SigningKey.generate()
    store = TrustStore().with_key(k.public).with_revoked(k.key_id)
    assert store.get(k.key_id) is not None and store.is_revoked(k.key_id)  # kept for the record
    with pytest.raises(TrustStoreError, match="revoked"):
        store.with_key(k.public)


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    return path


def test_tampered_store_is_refused_whole(tmp_path: Path) -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    doc = TrustStore().with_key(a.public).document.to_obj()
    doc["keys"][0]["public_key"] = b.public.spki_b64()  # key id no longer matches the key
    with pytest.raises(TrustStoreError, match="does not match its public key"):
        TrustStore.load(_write(tmp_path, doc))
    doc = TrustStore().with_key(a.public).document.to_obj()
    doc["keys"][0]["algorithm"] = "ecdsa-p256"
    with pytest.raises(TrustStoreError, match="says ecdsa-p256 but is ed25519"):
        TrustStore.load(_write(tmp_path, doc))
    doc["keys"][0]["public_key"] = "A" * 60
    with pytest.raises(TrustStoreError, match="not a base64 DER public key"):
        TrustStore.load(_write(tmp_path, doc))


_KEY = {
    "key_id": "a" * 64,
    "algorithm": "ed25519",
    "public_key": "MCowBQYDK2VwAyEAa/punoz6qDc5wqY2QSkPxYnIF9+jvF8y+UlW6XYvDU8=",
}


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"version": 2}, "version"),
        ({"keys": [], "revoked": ["nothex"]}, "revoked.0"),
        ({"keys": [{"key_id": "a" * 64}]}, "keys.0"),
        ({"extra": 1}, "extra"),
        # A blank scope is refused rather than read one way or another ("any"? "none"?).
        ({"keys": [{**_KEY, "operator": ""}]}, "keys.0.operator"),
        ({"keys": [{**_KEY, "sites": ["jhb-2", ""]}]}, "keys.0.sites.1"),
    ],
)
def test_malformed_store(tmp_path: Path, doc: object, fragment: str) -> None:
    with pytest.raises(TrustStoreError, match=fragment):
        TrustStore.load(_write(tmp_path, doc))


def test_missing_store_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(TrustStoreError) as err:
        TrustStore.load(tmp_path / "nope.json")
    assert "attest trust add" in (err.value.hint or "")


def test_scope_period_must_be_ordered() -> None:
    with pytest.raises(Exception, match="not_after must be after not_before"):
        TrustStore().with_key(SigningKey.generate().public, not_before=NOW, not_after=NOW - timedelta(days=1))
