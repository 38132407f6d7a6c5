"""Fetching GPU certificates' revocation status (OCSP), at the edge: on the node or with ``--online``.

The verifier itself never reads the network (:mod:`attest.hardware.cc` checks captured
responses). Two places fetch them:

* ``attest bind`` on a node attaches its GPUs' responses to the binding, so an auditor can
  verify offline later;
* ``attest verify --online`` fetches what a binding lacks, through a :class:`OcspFetcher`
  handed to the verifier.

The responder is the one the certificate names (Authority Information Access, OCSP), else
the one given (NVIDIA's by default). Requests use SHA-384 certificate ids, as NVIDIA's
service expects; one request per certificate (positions 1-3 of the chain).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from attest.errors import HardwareError
from attest.hardware.cc import OCSP_POSITIONS, EvidenceError, parse_chain

NVIDIA_OCSP_URL = "https://ocsp.ndis.nvidia.com/"
"""NVIDIA's OCSP service for GPU device certificates."""

OcspFetcher = Callable[[bytes], list[bytes]]
"""Given a GPU's PEM chain (leaf first), return DER OCSP responses for positions 1-3."""


def responder_url(cert: x509.Certificate, default: str) -> str:
    """The OCSP responder a certificate names (AIA), else ``default``."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return default
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            return desc.access_location.value
    return default


def request_for(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A DER OCSP request for ``cert`` (SHA-384 certificate id)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA384())
    return builder.build().public_bytes(serialization.Encoding.DER)


class HttpOcspFetcher:
    """Fetches OCSP responses over HTTP with ``requests``, and remembers them for a run.

    Args:
        default_url: the responder for certificates that name none (NVIDIA's by default).
        override_url: ask this responder for every certificate (a mirror, or a test responder).
        timeout_s: per request.
    """

    def __init__(
        self,
        *,
        default_url: str = NVIDIA_OCSP_URL,
        override_url: str | None = None,
        timeout_s: float = 10.0,
        session: Any | None = None,
    ) -> None:
        self.default_url = default_url
        self.override_url = override_url
        self.timeout_s = timeout_s
        self._session = session
        self._cache: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Sent to audit workers: the settings travel, the lock, session and cache do not.
        return {
            "default_url": self.default_url,
            "override_url": self.override_url,
            "timeout_s": self.timeout_s,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _post(self, url: str, body: bytes) -> bytes:
        import requests  # only when something is fetched

        session = self._session or requests
        try:
            resp = session.post(
                url,
                data=body,
                headers={"Content-Type": "application/ocsp-request", "Accept": "application/ocsp-response"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise HardwareError(f"cannot reach the OCSP responder {url}: {exc}") from None
        if resp.status_code != 200:
            raise HardwareError(f"the OCSP responder {url} answered HTTP {resp.status_code}")
        content: bytes = resp.content
        if len(content) > 16384:
            raise HardwareError(
                f"the OCSP responder {url} sent {len(content)} bytes; at most 16384 are accepted"
            )
        return content

    def __call__(self, chain_pem: bytes) -> list[bytes]:
        """DER responses for chain positions 1-3 (raises :class:`HardwareError` when unreachable)."""
        try:
            certs = parse_chain(chain_pem)
        except EvidenceError as exc:
            raise HardwareError(f"cannot ask for revocation status: {exc.message}") from None
        if len(certs) < max(OCSP_POSITIONS) + 2:
            raise HardwareError("cannot ask for revocation status: the chain is too short")
        out = []
        for position in OCSP_POSITIONS:
            cert, issuer = certs[position], certs[position + 1]
            body = request_for(cert, issuer)
            with self._lock:
                cached = self._cache.get(body)
            if cached is None:
                url = self.override_url or responder_url(cert, self.default_url)
                cached = self._post(url, body)
                with self._lock:
                    self._cache[body] = cached
            out.append(cached)
        return out
