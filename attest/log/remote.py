"""A collector's log over HTTP: append envelopes, fetch the checkpoint, ask for proofs.

Proofs fetched here are *checked* before they are returned: an inclusion proof must verify
against the root it names, a consistency proof between the roots it names (RFC 9162 §2.1
verification). Whether those roots are the log's is what a signed checkpoint says.
"""

from __future__ import annotations

from typing import Any

import requests

from attest.errors import InputError, Unreachable
from attest.log import merkle
from attest.log.store import Appended


class RemoteLog:
    """``http(s)://collector`` as a log."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.base = url.rstrip("/")
        self.timeout = timeout_s
        self.session = requests.Session()

    def _get(self, path: str, **params: Any) -> requests.Response:
        try:
            resp = self.session.get(self.base + path, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach the collector at {self.base}: {exc}") from None
        if resp.status_code != 200:
            raise InputError(f"the collector answered {resp.status_code}: {_error(resp)}")
        return resp

    def _json(self, path: str, params: dict[str, int]) -> dict[str, Any]:
        try:
            value = self._get(path, **params).json()
        except ValueError:
            raise InputError(f"the collector's answer to {path} is not JSON") from None
        if not isinstance(value, dict) or not isinstance(value.get("path"), list):
            raise InputError(f"the collector's answer to {path} is not a proof")
        return value

    def append(self, entries: list[bytes]) -> list[Appended]:
        """POST each envelope; the collector verifies and logs it."""
        out = []
        for data in entries:
            try:
                resp = self.session.post(
                    self.base + "/v1/manifests",
                    data=data,
                    headers={"Content-Type": "application/json"},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise Unreachable(f"cannot reach the collector at {self.base}: {exc}") from None
            if resp.status_code != 200:
                raise InputError(f"the collector refused an envelope ({resp.status_code}): {_error(resp)}")
            try:
                body = resp.json()
                leaf = bytes.fromhex(body["leaf_hash"])
                index = int(body["leaf_index"])
            except (ValueError, KeyError, TypeError):
                raise InputError("the collector's answer to a push is not what it should be") from None
            if leaf != merkle.leaf_hash(data):
                raise InputError("the collector reports another leaf hash than the envelope's")
            out.append(Appended(index, leaf, not body.get("duplicate", False)))
        return out

    def checkpoint(self) -> str:
        """The collector's newest signed checkpoint (a signed note)."""
        return self._get("/v1/checkpoint").content.decode("utf-8", "replace")  # notes are UTF-8

    def inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        """An inclusion proof, verified before it is returned."""
        params: dict[str, int] = {"index": index}
        if size is not None:
            params["size"] = size
        proof = self._json("/v1/proof/inclusion", params)
        try:
            ok = merkle.verify_inclusion(
                bytes.fromhex(proof["leaf_hash"]),
                int(proof["leaf_index"]),
                int(proof["tree_size"]),
                [bytes.fromhex(h) for h in proof["path"]],
                bytes.fromhex(proof["root_hash"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InputError("the collector's inclusion proof is malformed") from None
        if not ok:
            raise InputError("the collector's inclusion proof does not verify against its own root")
        return proof

    def consistency(self, old: int, new: int | None = None) -> dict[str, Any]:
        """A consistency proof, verified before it is returned."""
        params: dict[str, int] = {"old": old}
        if new is not None:
            params["new"] = new
        proof = self._json("/v1/proof/consistency", params)
        try:
            ok = merkle.verify_consistency(
                int(proof["old_size"]),
                int(proof["new_size"]),
                bytes.fromhex(proof["old_root"]),
                bytes.fromhex(proof["new_root"]),
                [bytes.fromhex(h) for h in proof["path"]],
            )
        except (KeyError, TypeError, ValueError):
            raise InputError("the collector's consistency proof is malformed") from None
        if not ok:
            raise InputError("the collector's consistency proof does not verify between its own roots")
        return proof


def _error(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text[:200]))
    except (ValueError, AttributeError):
        return resp.text[:200]
