"""The trust store: trusted signer keys with their scope, and revoked key ids.

Loading is fail-closed: a key whose ``public_key`` does not parse, whose
``key_id`` is not the SHA-256 of that key, or whose ``algorithm`` does not
match, makes the whole store unreadable rather than silently skipped.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from attest.crypto.keys import VerifyingKey
from attest.errors import AttestError, TrustStoreError
from attest.model.trust import TrustedChallenger, TrustedKey, TrustStoreFile


@dataclass(frozen=True)
class TrustEntry:
    """A trusted key: its scope as written in the store, and the parsed public key."""

    scope: TrustedKey
    key: VerifyingKey


MAX_TRUST_STORE_BYTES = 64 * 1024 * 1024
"""About 400 bytes a key: a fleet's few thousand node keys pass an envelope's 1 MiB; this holds ~150,000."""


class TrustStore:
    """Trusted signer keys, looked up by key id."""

    def __init__(self, document: TrustStoreFile | None = None) -> None:
        self.document = document or TrustStoreFile()
        self._entries: dict[str, TrustEntry] = {}
        for scope in self.document.keys:
            try:
                key = VerifyingKey.from_spki_b64(scope.public_key)
            except AttestError as exc:
                raise TrustStoreError(f"trust store key {scope.key_id[:16]}…: {exc.message}") from None
            if key.key_id != scope.key_id:
                raise TrustStoreError(
                    f"trust store key {scope.key_id[:16]}… does not match its public key (which is {key.key_id[:16]}…)"
                )
            if key.algorithm.value != scope.algorithm:
                raise TrustStoreError(
                    f"trust store key {scope.key_id[:16]}… says {scope.algorithm} but is {key.algorithm.value}"
                )
            self._entries[scope.key_id] = TrustEntry(scope=scope, key=key)
        self._revoked = frozenset(self.document.revoked)
        self._challengers: dict[str, VerifyingKey] = {}
        for ch in self.document.challengers:
            try:
                key = VerifyingKey.from_spki_b64(ch.public_key)
            except AttestError as exc:
                raise TrustStoreError(f"trust store challenger {ch.key_id[:16]}…: {exc.message}") from None
            if key.key_id != ch.key_id or key.algorithm.value != ch.algorithm:
                raise TrustStoreError(
                    f"trust store challenger {ch.key_id[:16]}… does not match its public key or algorithm"
                )
            self._challengers[ch.key_id] = key

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        """Read a trust store file."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise TrustStoreError(
                f"trust store {path} does not exist",
                hint=f"create it with: attest trust add KEY.pub --trust {path}",
            ) from None
        except OSError as exc:
            raise TrustStoreError(f"cannot read trust store {path}: {exc.strerror}") from None
        try:
            document = TrustStoreFile.from_json(
                data, what=f"trust store {path}", max_bytes=MAX_TRUST_STORE_BYTES
            )
        except AttestError as exc:
            raise TrustStoreError(exc.message) from None
        return cls(document)

    def save(self, path: Path) -> None:
        """Write the store atomically (temporary file, fsync, rename), mode 0644: it holds no secret."""
        text = self.document.to_json() + "\n"
        directory = path.parent if str(path.parent) else Path()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        try:
            # Public keys only: readable by the services that verify (a Slurm controller's
            # non-root SlurmUser, the webhook's user). mkstemp would leave it 0600.
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key_id: str) -> TrustEntry | None:
        """Return the trusted key with this id, or None."""
        return self._entries.get(key_id)

    def challenger(self, key_id: str) -> VerifyingKey | None:
        """The trusted, unrevoked binding-challenge key with this id, or None."""
        if key_id in self._revoked:
            return None
        return self._challengers.get(key_id)

    def with_challenger(self, key: VerifyingKey, *, comment: str | None = None) -> TrustStore:
        """Return a store that also trusts ``key`` to issue binding challenges.

        Raises:
            TrustStoreError: the key is revoked, or already trusted as a node key.
        """
        if key.key_id in self._revoked:
            raise TrustStoreError(f"key {key.key_id} is revoked; a revoked key cannot be trusted again")
        if key.key_id in self._entries:
            raise TrustStoreError(
                f"key {key.key_id[:16]}… is trusted as a node key; a challenger must have a key of its own"
            )
        entry = TrustedChallenger(
            key_id=key.key_id, algorithm=key.algorithm.value, public_key=key.spki_b64(), comment=comment
        )
        challengers = [c for c in self.document.challengers if c.key_id != key.key_id] + [entry]
        return TrustStore(self.document.model_copy(update={"challengers": challengers}))

    def is_revoked(self, key_id: str) -> bool:
        """Whether this key id is on the revocation list."""
        return key_id in self._revoked

    @property
    def entries(self) -> list[TrustEntry]:
        """All trusted keys, in file order."""
        return list(self._entries.values())

    @property
    def revoked(self) -> frozenset[str]:
        """Revoked key ids."""
        return self._revoked

    def with_key(
        self,
        key: VerifyingKey,
        *,
        operator: str | None = None,
        sites: list[str] | None = None,
        countries: list[str] | None = None,
        hosts: list[str] | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        comment: str | None = None,
        replace: bool = False,
    ) -> TrustStore:
        """Return a store that also trusts ``key`` within the given scope.

        A key already trusted with the same scope leaves the store as it is. With another
        scope, the new scope replaces the old one whole (it is not added to it) only with
        ``replace=True``, as ``attest trust add --replace``: otherwise an entry re-added with
        fewer limits would widen its trust without a word.

        Raises:
            TrustStoreError: the key is revoked or a challenger, or is trusted with another
                scope and ``replace`` is False (the message names each changed field).
        """
        if key.key_id in self._revoked:
            raise TrustStoreError(f"key {key.key_id} is revoked; a revoked key cannot be trusted again")
        entry = TrustedKey.from_obj(
            {
                "key_id": key.key_id,
                "algorithm": key.algorithm.value,
                "public_key": key.spki_b64(),
                "operator": operator,
                "sites": sites or [],
                "countries": countries or [],
                "hosts": hosts or [],
                "not_before": not_before,
                "not_after": not_after,
                "comment": comment,
            },
            what="trusted key",
        )
        if key.key_id in self._challengers:
            raise TrustStoreError(
                f"key {key.key_id[:16]}… is trusted as a challenger; a node must have a key of its own"
            )
        old = self.get(key.key_id)
        if old is not None and old.scope == entry:
            return self
        if old is not None and not replace:
            changed = [
                f"{name} {getattr(old.scope, name)!r} -> {getattr(entry, name)!r}"
                for name in type(entry).model_fields
                if getattr(old.scope, name) != getattr(entry, name)
            ]
            raise TrustStoreError(
                f"key {key.key_id[:16]}… is already trusted with another scope ({'; '.join(changed)}); "
                "nothing was changed",
                hint="pass replace=True to replace its scope whole (the new scope is not added to the old)",
            )
        keys = [k for k in self.document.keys if k.key_id != key.key_id] + [entry]
        return TrustStore(self.document.model_copy(update={"keys": keys}))

    def hosts_named(self) -> dict[str, set[str]]:
        """Host name -> the key ids whose entries name it (``hosts``), revoked keys left out."""
        named: dict[str, set[str]] = {}
        for e in self._entries.values():
            if e.scope.key_id not in self._revoked:
                for host in e.scope.hosts:
                    named.setdefault(host, set()).add(e.scope.key_id)
        return named

    def with_revoked(self, key_id: str) -> TrustStore:
        """Return a store in which ``key_id`` is revoked (its entry is kept, for the record)."""
        if key_id in self._revoked:
            return self
        return TrustStore(self.document.model_copy(update={"revoked": [*self.document.revoked, key_id]}))
