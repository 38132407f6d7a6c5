"""Quarantine: a node whose evidence contradicted itself stays refused until an auditor clears it.

Admission judges a node on its newest evidence, but a contradiction must not be forgotten
when the next manifest (without the landmark receipts that exposed it, say) verifies clean.
Contradictions are findings that no honest node produces:

* ``location.claim_impossible`` — the declared site is outside a landmark's light-speed disk;
* ``chain.fork`` — two manifests of one node key with one sequence number;
* ``classification.mismatch`` and ``hardware.model_mismatch`` — the GPUs are not what the
  manifest declares;
* ``hardware.gpu_two_nodes`` — one set of GPUs vouches for two node keys over the same time.

The record is an append-only JSON-lines file (``quarantine.jsonl`` beside the evidence the
collector keeps): one ``quarantined`` line per contradiction seen (host, node key, sequence
number, rule, message, time), one ``cleared`` line per auditor decision (who, why, when, and
up to which sequence number of each key it covers). A contradiction at or below a cleared
sequence number does not quarantine again, so a spool that still holds the contradicting
envelope does not undo the auditor's decision; a new contradiction does.

Reading is pure (:func:`quarantined_hosts` over parsed events); the file is the edge.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.model.base import format_timestamp
from attest.model.result import Finding, Severity

#: Finding rules that quarantine a node (see the module docstring).
CONTRADICTIONS = frozenset(
    {
        "location.claim_impossible",
        "chain.fork",
        "classification.mismatch",
        "hardware.model_mismatch",
        "hardware.gpu_two_nodes",
    }
)

FILE_NAME = "quarantine.jsonl"


@dataclass(frozen=True)
class Contradiction:
    """One contradicting finding about a host, from one node key's manifest."""

    host: str
    key_id: str
    sequence: int
    rule: str
    message: str

    def to_event(self, at: datetime, source: str | None = None) -> dict[str, Any]:
        """The ``quarantined`` line of the record."""
        return {
            "event": "quarantined",
            "host": self.host,
            "key_id": self.key_id,
            "sequence": self.sequence,
            "rule": self.rule,
            "message": self.message[:1000],
            "at": format_timestamp(at),
            "source": source,
        }


def contradictions(host: str, key_id: str, sequence: int, findings: Iterable[Finding]) -> list[Contradiction]:
    """The findings of one manifest that quarantine its host."""
    return [
        Contradiction(host, key_id, sequence, f.rule, f.message)
        for f in findings
        if f.rule in CONTRADICTIONS and f.severity is not Severity.INFO
    ]


def cleared_marks(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Host -> node key -> the highest sequence number an auditor's ``cleared`` event covers."""
    marks: dict[str, dict[str, int]] = {}
    for e in events:
        if e["event"] == "cleared":
            host = marks.setdefault(e["host"], {})
            for key, seq in e["up_to"].items():
                host[key] = max(host.get(key, -1), seq)
    return marks


def is_cleared(c: Contradiction, marks: Mapping[str, Mapping[str, int]]) -> bool:
    """Whether an auditor's decision already covers this contradiction."""
    return c.sequence <= marks.get(c.host, {}).get(c.key_id, -1)


def quarantined_hosts(events: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Hosts in quarantine now, each with its open ``quarantined`` events (oldest first)."""
    open_: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e["event"] == "quarantined":
            open_.setdefault(e["host"], []).append(dict(e))
        elif e["event"] == "cleared":
            open_.pop(e["host"], None)  # covers everything recorded for the host before it
    return open_


class QuarantineRecord:
    """The append-only quarantine file: contradictions and auditors' decisions."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[dict[str, Any]]:
        """Every event, in order. A line that does not parse makes the record unreadable (fail closed)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise InputError(f"cannot read the quarantine record {self.path}: {exc.strerror}") from None
        except UnicodeDecodeError:  # fail closed, as for a line that does not parse
            raise InputError(f"the quarantine record {self.path} is not UTF-8 text: unreadable") from None
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                ok = (
                    isinstance(e, dict)
                    and e.get("event") in ("quarantined", "cleared")
                    and isinstance(e.get("host"), str)
                    and (
                        (isinstance(e.get("key_id"), str) and type(e.get("sequence")) is int)
                        if e["event"] == "quarantined"
                        else isinstance(e.get("up_to"), dict)
                        and all(type(v) is int for v in e["up_to"].values())
                    )
                )
            except ValueError:
                ok = False
            if not ok:
                raise InputError(
                    f"quarantine record {self.path} line {n} is not a quarantine event",
                    hint="the record is append-only; restore it from a backup rather than editing it",
                )
            out.append(e)
        return out

    def quarantined(self) -> dict[str, list[dict[str, Any]]]:
        """Hosts in quarantine now (see :func:`quarantined_hosts`)."""
        return quarantined_hosts(self.events())

    def record(self, found: Iterable[Contradiction], *, at: datetime, source: str | None = None) -> int:
        """Append the contradictions not already open or cleared; return how many were new."""
        found = list(found)
        if not found:
            return 0
        with self._locked():
            events = self.events()
            seen = {
                (e["host"], e["key_id"], e["sequence"], e["rule"])
                for e in events
                if e["event"] == "quarantined"
            }
            marks = cleared_marks(events)
            new = [
                c
                for c in found
                if (c.host, c.key_id, c.sequence, c.rule) not in seen and not is_cleared(c, marks)
            ]
            self._append([c.to_event(at, source) for c in new])
        return len(new)

    def clear(self, host: str, *, by: str, reason: str, at: datetime) -> dict[str, Any]:
        """Record an auditor's decision that ``host`` may be admitted again.

        It covers every contradiction recorded so far for the host (up to the highest sequence
        number of each key); a later contradiction quarantines the host again.

        Raises:
            InputError: the host is not in quarantine, or ``by``/``reason`` is empty.
        """
        if not by.strip() or not reason.strip():
            raise InputError("clearing a quarantine needs who decides (--by) and why (--reason)")
        with self._locked():
            open_ = quarantined_hosts(self.events()).get(host)
            if not open_:
                raise InputError(
                    f"{host} is not in quarantine", hint=f"see: attest quarantine list --record {self.path}"
                )
            up_to: dict[str, int] = {}
            for e in open_:
                up_to[e["key_id"]] = max(up_to.get(e["key_id"], -1), e["sequence"])
            event = {
                "event": "cleared",
                "host": host,
                "by": by[:200],
                "reason": reason[:1000],
                "at": format_timestamp(at),
                "up_to": up_to,
                "rules": sorted({e["rule"] for e in open_}),
            }
            self._append([event])
        return event

    def _locked(self) -> FileLock:
        return FileLock(self.path.with_name(self.path.name + ".lock"))

    def _append(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write the quarantine record {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            for e in events:
                fh.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class FileLock:
    """An exclusive ``flock`` on a lock file, as a context manager (collectors may share a directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: Any = None

    def __enter__(self) -> None:
        try:
            self.fh = self.path.open("a")
        except OSError as exc:
            raise InputError(f"cannot lock {self.path}: {exc.strerror}") from None
        fcntl.flock(self.fh, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()
