"""Generate the JSON Schemas in ``schemas/`` from the models.

Run ``python -m attest.schemas [DIR]`` after changing a model; a test
fails while the committed schemas differ from what this module generates.
It gathers models from every layer (the wire models, the daemon's configuration), so it sits
at the top, beside the CLI: a model never imports a service (tests/test_layers.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from attest.daemon.config import DaemonConfig
from attest.model.catalog import ChipCatalog
from attest.model.cc import SpdmReport
from attest.model.hardware import HardwareEvidence
from attest.model.location import LandmarkRegistry
from attest.model.manifest import LocationEvidence, WorkloadManifest
from attest.model.policy import PolicyDocument
from attest.model.result import VerificationResult
from attest.model.statement import Envelope, Statement
from attest.model.trust import TrustStoreFile

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "workload-manifest.v1": WorkloadManifest,
    "statement": Statement,
    "envelope": Envelope,
    "verification-result": VerificationResult,
    "trust-store": TrustStoreFile,
    "hardware-evidence": HardwareEvidence,
    "chip-catalog": ChipCatalog,
    "spdm-report": SpdmReport,
    "policy": PolicyDocument,
    "landmark-registry": LandmarkRegistry,
    "location-evidence": LocationEvidence,
    "daemon-config": DaemonConfig,
}
"""File stem → model, for every wire format."""

SCHEMA_BASE_URI = "https://compute-attest.dev/schemas/"


def render_schemas() -> dict[str, str]:
    """Return file name → schema text for every wire model."""
    out = {}
    for stem, model in SCHEMA_MODELS.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE_URI}{stem}.json",
            **schema,
        }
        out[f"{stem}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the schemas into the given directory (default ``schemas/``)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path("schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_schemas().items():
        (target / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
