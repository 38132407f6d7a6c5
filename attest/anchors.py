"""Which trust anchors produced a verdict, by content: never by the name an anchor gives itself.

A policy file may call itself ``us-ear`` and a catalog may carry the bundled one's date; what
identifies them is their content. Every anchor of a result is therefore recorded as a digest
of its canonical JSON (RFC 8785; a screening list, of its compact JSON, :func:`list_digest`), and an anchor that is not the one shipped with
compute-attest is marked ``custom:`` so that an auditor can tell:

- the policy: ``id@version`` (``custom:id@version`` unless every document of its ``extends``
  chain is, byte for byte once canonical, the bundled document of that id), and the sha256 of
  its documents with the screening lists it loaded (name, date, number of entries, sha256);
- each screening list: its name, date, size and digest, and whether it is the bundled one;
- the chip catalog: its date and digest, ``custom:`` unless it is the bundled catalog;
- the trust store and the landmark registry: their digests (always the operator's own).

Digests are computed once per object (a screening list of 26,000 entries takes most of a
second) and found again by identity.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Protocol

from attest._internal.memo import ByIdentity
from attest.crypto.canonical import json_digest
from attest.crypto.trust import TrustStore
from attest.hardware.catalog import Catalog, bundled_catalog
from attest.model.location import LandmarkRegistry
from attest.model.result import Anchors, ListAnchor
from attest.policy.engine import BUNDLED, Policy, _read_document
from attest.policy.screening import BUNDLED_LISTS, ScreeningList, bundled_list

__all__ = [
    "CUSTOM",
    "catalog_anchor",
    "describe_anchors",
    "list_digest",
    "policy_anchor",
    "registry_digest",
    "trust_digest",
]

CUSTOM = "custom:"
"""The prefix of an anchor that is not the one bundled with compute-attest."""


class Named(Protocol):
    """What every policy says of itself: an id and a version (its own word)."""

    @property
    def id(self) -> str:
        """The policy's id."""
        ...

    @property
    def version(self) -> str:
        """The policy's version."""
        ...


_LISTS: ByIdentity[str] = ByIdentity(64)
_POLICIES: ByIdentity[tuple[str, str, tuple[ListAnchor, ...]]] = ByIdentity(64)
_TRUST: ByIdentity[str] = ByIdentity(64)
_REGISTRIES: ByIdentity[str] = ByIdentity(16)


def list_digest(lst: ScreeningList) -> str:
    """sha256 of the list's compact JSON as compute-attest serialises it (its model's field order).

    Not RFC 8785: for the 26,000 entries of the CSL that takes 0.45 s of CPU, this 0.05 s
    (once per process and list); the bytes are as deterministic, and any content change moves it.
    """
    hit = _LISTS.get(lst)
    if hit is None:
        data = lst.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
        hit = "sha256:" + hashlib.sha256(data).hexdigest()
        _LISTS.put(hit, lst)
    return hit


@cache
def _bundled_document_digest(policy_id: str) -> str:
    """sha256 of the canonical JSON of the bundled policy document ``policy_id``."""
    return json_digest(_read_document(policy_id, None)[0].to_obj())


def _is_bundled_list(lst: ScreeningList) -> bool:
    """Whether ``lst`` is the bundled list of its name.

    The very object, or one with its content (a copy that crossed a process boundary, or a
    file holding the same list).
    """
    if lst.name not in BUNDLED_LISTS:
        return False
    bundled = bundled_list(lst.name)
    if lst is bundled:
        return True
    same_size = lst.date == bundled.date and len(lst.entries) == len(bundled.entries)
    return same_size and list_digest(lst) == list_digest(bundled)


def policy_anchor(policy: Named) -> tuple[str, str | None, list[ListAnchor]]:
    """The policy's anchor, content digest and screening lists.

    Returns ``("id@version" or "custom:id@version", "sha256:…" or None, lists)``. A policy
    object that is not the bundled engine (:class:`attest.policy.engine.Policy`) has no content
    to digest: it is ``custom:`` with no digest and no lists. An engine policy is ``custom:``
    unless each document of its ``extends`` chain is the bundled document of that id.
    """
    if type(policy) is not Policy:
        return f"{CUSTOM}{policy.id}@{policy.version}", None, []
    hit = _POLICIES.get(policy)
    if hit is None:
        lists = tuple(
            ListAnchor(
                rule=rule,
                name=lst.name,
                date=lst.date,
                entries=len(lst.entries),
                sha256=list_digest(lst),
                bundled=_is_bundled_list(lst),
            )
            for rule, screener in policy.screeners.items()
            for lst in screener.lists
        )
        documents = [doc.to_obj() for doc in policy.documents]
        bundled = all(
            doc.id in BUNDLED and json_digest(obj) == _bundled_document_digest(doc.id)
            for doc, obj in zip(policy.documents, documents, strict=True)
        )
        digest = json_digest({"documents": documents, "lists": [a.to_obj() for a in lists]})
        name = f"{'' if bundled else CUSTOM}{policy.id}@{policy.version}"
        hit = (name, digest, lists)
        _POLICIES.put(hit, policy)
    return hit[0], hit[1], list(hit[2])


def catalog_anchor(catalog: Catalog) -> str:
    """The catalog's date and sha256; ``custom:`` first unless it is the bundled catalog's content."""
    mine = catalog.anchor
    return mine if mine == bundled_catalog().anchor else CUSTOM + mine


def trust_digest(trust: TrustStore) -> str:
    """sha256 of the trust store's canonical JSON (its keys and scopes, revocations, challengers)."""
    document = trust.document
    hit = _TRUST.get(trust, document)
    if hit is None:
        hit = json_digest(document.to_obj())
        _TRUST.put(hit, trust, document)
    return hit


def registry_digest(registry: LandmarkRegistry) -> str:
    """sha256 of the landmark registry's canonical JSON."""
    hit = _REGISTRIES.get(registry)
    if hit is None:
        hit = json_digest(registry.to_obj())
        _REGISTRIES.put(hit, registry)
    return hit


def describe_anchors(anchors: Anchors) -> str:
    """One line naming the anchors, for a text report (``custom:`` ones said first, in words)."""
    custom = [
        name
        for name, value in (("policy", anchors.policy), ("catalog", anchors.catalog))
        if value and value.startswith(CUSTOM)
    ]
    custom += [f"list {a.name}" for a in anchors.lists if not a.bundled]
    parts = [
        f"policy {anchors.policy or 'none'}"
        + (f" ({anchors.policy_sha256})" if anchors.policy_sha256 else "")
    ]
    parts += [f"list {a.name} of {a.date} ({a.entries:,} entries, {a.sha256})" for a in anchors.lists]
    parts.append(f"catalog {anchors.catalog}")
    if anchors.trust_store:
        parts.append(f"trust store {anchors.trust_store}")
    if anchors.cc_root_sha256:
        parts.append(f"GPU root sha256:{anchors.cc_root_sha256}")
    if anchors.landmark_registry:
        parts.append(f"landmark registry {anchors.landmark_registry}")
    head = f"anchors (not bundled: {', '.join(custom)}): " if custom else "anchors: "
    return head + "; ".join(parts)
