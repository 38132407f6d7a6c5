"""The CLI's one file reader: every byte or none, one clear error for each way a file cannot be read."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from attest.cli.common import read_input, sha256_input
from attest.errors import InputError, InputTooLarge


def _fifo_with(tmp_path: Path, data: bytes) -> tuple[Path, threading.Thread]:
    """A named pipe (not a regular file: no size to go by) that a thread fills with ``data``."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with (
            fifo.open("wb", buffering=0) as fh,
            contextlib.suppress(BrokenPipeError),
        ):  # the reader may stop early
            fh.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return fifo, writer


def test_a_regular_file_is_read_whole_up_to_the_limit_and_refused_past_it(tmp_path: Path) -> None:
    f = tmp_path / "e.json"
    f.write_bytes(b"x" * 1000)
    assert read_input(str(f), what="envelope", max_bytes=1000) == b"x" * 1000
    with pytest.raises(InputTooLarge) as info:
        read_input(str(f), what="envelope", max_bytes=999)
    assert (info.value.size, info.value.limit, info.value.exact) == (1000, 999, True)
    (tmp_path / "empty").write_bytes(b"")
    assert read_input(str(tmp_path / "empty"), what="envelope") == b""


def test_a_stream_is_read_to_its_end_in_many_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000  # 256 kB: several reads of a pipe
    fifo, writer = _fifo_with(tmp_path, data)
    assert read_input(str(fifo), what="envelope", max_bytes=1 << 20) == data
    writer.join()


def test_a_stream_over_the_limit_is_refused_naming_its_real_size(tmp_path: Path) -> None:
    fifo, writer = _fifo_with(tmp_path, b"y" * 300_000)
    with pytest.raises(InputTooLarge) as info:
        read_input(str(fifo), what="envelope", max_bytes=100_000)
    writer.join()
    assert (info.value.size, info.value.exact) == (300_000, True)
    assert "nothing of it was used" in info.value.message


@pytest.mark.parametrize("reader", [read_input, sha256_input])
def test_read_and_hash_say_the_same_for_a_missing_file_and_a_directory(
    tmp_path: Path, reader: object
) -> None:
    assert callable(reader)
    with pytest.raises(InputError, match=r"^envelope .*missing\.json does not exist$"):
        reader(str(tmp_path / "missing.json"), what="envelope")
    with pytest.raises(InputError, match=r"^envelope .* is a directory$"):
        reader(str(tmp_path), what="envelope")
    with pytest.raises(InputError, match=r"^cannot read envelope .*: Not a directory$"):
        (tmp_path / "file").write_bytes(b"{}")
        reader(str(tmp_path / "file" / "below"), what="envelope")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "secret.json"
    f.write_bytes(b"{}")
    f.chmod(0)
    with pytest.raises(InputError, match=r"^cannot read envelope .*secret\.json: Permission denied$"):
        read_input(str(f), what="envelope")
    with pytest.raises(InputError, match=r"^cannot read envelope .*secret\.json: Permission denied$"):
        sha256_input(str(f), what="envelope")
