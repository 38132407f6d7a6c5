"""A chain database that cannot grow (a full disk, here a file size limit) reports SQLite's own error, as a StoreError."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import resource, sys
from pathlib import Path
from attest.daemon.state import ChainDB, Row
db = ChainDB(Path(sys.argv[1]))
db.append([Row(0, "d0", "start", "j0", "2026-12-05T00:00:00Z", b"x" * 1000)])
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
try:
    db.append([Row(1, "d1", "start", "j1", "2026-12-05T00:00:01Z", b"y" * 1_000_000)])
except Exception as exc:
    print(type(exc).__name__, exc)
print(db.count())
"""


def test_a_full_disk_reports_the_real_error_and_keeps_the_chain(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "chain.sqlite")], capture_output=True,
                         text=True, timeout=60)
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "1"  # the failed manifest is not in, the first one is
    # The project's error (attest.storage), carrying SQLite's own words, not a rollback's.
    assert "cannot rollback" not in out.stdout and lines[0].startswith("StoreError the chain database")
    assert "disk I/O error" in lines[0] or "disk is full" in lines[0], lines[0]
