"""A parsed NVIDIA confidential-computing attestation report (SPDM 1.1 GET_MEASUREMENTS).

The report is the request (37 bytes) followed by the response; these models
hold every field, so ``attest gpu verify-report --format json`` shows what was
checked.
"""

from __future__ import annotations

from pydantic import Field

from attest.model.base import WireModel

OPAQUE_FIELD_NAMES: dict[int, str] = {
    1: "cert_issuer_name",
    2: "cert_authority_key_id",
    3: "driver_version",
    4: "gpu_info",
    5: "sku",
    6: "vbios_version",
    7: "manufacturer_id",
    8: "tamper_detection",
    9: "smc",
    10: "vpr",
    11: "nvdec0_status",
    12: "msrs_count",
    13: "cpr_info",
    14: "board_id",
    15: "chip_sku",
    16: "chip_sku_mod",
    17: "project",
    18: "project_sku",
    19: "project_sku_mod",
    20: "fwid",
    21: "protected_pcie_status",
    22: "switch_pdi",
    23: "floorswept_ports",
    24: "position_id",
    25: "lock_switch_status",
    32: "gpu_link_conn",
    33: "sys_enable_status",
    34: "opaque_data_version",
    35: "chip_info",
    36: "feature_flag",
}
"""Opaque data field types NVIDIA's reports use (reference/nvidia.md)."""


class MeasurementBlock(WireModel):
    """One measurement block (DMTF format): index and digest."""

    index: int
    spec: int = Field(description="1 = DMTF measurement specification")
    value_type: int
    value: str = Field(description="hex")


class OpaqueField(WireModel):
    """One opaque data field (type, name, value)."""

    type: int
    name: str
    value: str = Field(description="hex")
    text: str | None = Field(default=None, description="the value as text, when it is printable")


class SpdmReport(WireModel):
    """The request and response of one GET_MEASUREMENTS exchange."""

    request_version: int
    request_code: int
    request_param1: int
    request_param2: int
    nonce: str = Field(description="the caller's nonce (request bytes 4..36), hex")
    slot_id: int
    response_version: int
    response_code: int
    response_param1: int
    response_param2: int
    blocks: list[MeasurementBlock]
    responder_nonce: str
    opaque: list[OpaqueField]
    signature: str = Field(description="ECDSA P-384 r||s, hex")

    def opaque_value(self, type_: int) -> bytes | None:
        """The raw value of the first opaque field of this type, or None."""
        for f in self.opaque:
            if f.type == type_:
                return bytes.fromhex(f.value)
        return None
