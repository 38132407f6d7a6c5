"""The daemon's configuration file (TOML), validated strictly: a typo is an error, not a default."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from attest.errors import InputError
from attest.model.base import WireModel
from attest.model.manifest import Operator, Site


class CollectorConfig(WireModel):
    """Where signed manifests are pushed (HTTP POST, one envelope per request)."""

    url: Annotated[str, Field(pattern=r"^https?://", description="collector endpoint")]
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    max_backoff_s: Annotated[float, Field(ge=1, le=86_400)] = 300.0
    log_key: str | None = Field(
        default=None,
        description="the log's note verifier key (name+keyid+base64, as attest log init prints it): a push "
        "counts as delivered only once the entry is proven in a checkpoint this key signed (required, "
        "unless unconfirmed_delivery)",
    )
    unconfirmed_delivery: bool = Field(
        default=False,
        description="without log_key, count a push as delivered on the collector's own inclusion proof "
        "(which a lying collector can make up: labs only)",
    )
    allow_insecure_http: bool = Field(
        default=False, description="allow an http:// url (anyone on the path can answer for the collector)"
    )

    @model_validator(mode="after")
    def _confirmed(self) -> CollectorConfig:
        """Delivery proven against the log's signed checkpoints, over HTTPS, unless said otherwise."""
        if self.log_key is None and not self.unconfirmed_delivery:
            raise ValueError(
                "[collector] needs log_key (the log's verifier key, as attest log init prints it): without "
                "it a push's proof proves nothing (set unconfirmed_delivery = true to accept that, labs only)"
            )
        if self.url.startswith("http://") and not self.allow_insecure_http:
            raise ValueError(
                "[collector] url is http://: use https://, or set allow_insecure_http = true (labs, loopback)"
            )
        if self.log_key is not None:
            from attest.log.checkpoint import parse_verifier_key

            try:
                parse_verifier_key(self.log_key)
            except InputError as exc:
                raise ValueError(f"[collector] log_key: {exc.message}") from None
        return self


class DaemonConfig(WireModel):
    """``attest daemon --config FILE``."""

    key: str = Field(description="node signing key (PEM, mode 0600)")
    socket: str = Field(default="/run/attest/attest.sock", description="Unix socket of the local API")
    socket_mode: Annotated[int, Field(ge=0, le=0o777)] = 0o660
    allowed_uids: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0], description="peers (SO_PEERCRED) allowed to call the API, by uid"
    )
    allowed_gids: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, description="... or by primary gid"
    )
    state_dir: str = Field(default="/var/lib/attest", description="chain database and spool live here")
    spool_dir: str | None = Field(default=None, description="signed envelopes (default: STATE_DIR/spool)")
    gpus: str = Field(
        default="nvml", description="'nvml', a simulated preset (h100, ...) or an evidence JSON file"
    )
    hostname: str | None = Field(default=None, description="override the host name in manifests")
    binding: str | None = Field(default=None, description="attest bind output: GPU reports over the node key")
    site: Site
    operator: Operator
    landmarks: str | None = Field(
        default=None, description="landmark registry; heartbeats carry fresh receipts"
    )
    landmark_rounds: Annotated[int, Field(ge=1, le=50)] = 3
    heartbeat_interval_s: Annotated[float, Field(ge=0, le=86_400, description="0 disables heartbeats")] = 60.0
    validity_s: Annotated[int, Field(ge=10, le=86_400)] = 900
    collector: CollectorConfig | None = None
    metrics: str | None = Field(default=None, description="HOST:PORT for Prometheus metrics (default: off)")
    max_batch: Annotated[int, Field(ge=1, le=4096)] = 256
    retention_days: Annotated[
        float | None,
        Field(
            gt=0,
            le=36_500,
            description="delete manifests older than this (days) from the spool and the chain database, "
            "hourly; the newest is always kept, and with a collector only those it accepted "
            "(default: keep everything)",
        ),
    ] = None

    @property
    def spool_path(self) -> Path:
        """The spool directory."""
        return Path(self.spool_dir) if self.spool_dir else Path(self.state_dir) / "spool"

    @property
    def db_path(self) -> Path:
        """The chain database."""
        return Path(self.state_dir) / "chain.sqlite"


def load_config(path: Path) -> DaemonConfig:
    """Read and validate a TOML config file.

    Raises:
        InputError: unreadable, not TOML, or not a valid configuration (which field, and why).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    return DaemonConfig.from_obj(data, what=f"config file {path}")
