"""Sizes and durations as a person reads them: ``50.0 MiB``, ``1 MiB``, ``24 h``, ``15 min``.

Messages name sizes and durations in these units, never as raw byte counts or as Python's
``timedelta`` text (``1 day, 0:00:00``).
"""

from __future__ import annotations

from datetime import timedelta

_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def human_size(size: int) -> str:
    """``size`` bytes in binary units: ``1 MiB``, ``50.0 MiB``, ``512 KiB``, ``900 bytes``.

    A whole number of units is written without decimals (limits read as set: ``1 MiB``);
    anything else keeps one decimal, rounded down so a size just over a limit never reads as
    the limit itself (1,048,577 bytes is ``1.0 MiB (1,048,577 bytes)``).
    """
    for name, unit in _UNITS:
        if size >= unit:
            if size % unit == 0:
                return f"{size // unit} {name}"
            text = f"{size * 10 // unit / 10:.1f} {name}"
            return text if size >= 100 * unit else f"{text} ({size:,} bytes)"
    return f"{size:,} byte" + ("" if size == 1 else "s")


def human_duration(span: timedelta) -> str:
    """A duration, exactly, in the largest units that fit: ``24 h``, ``15 min``, ``24 h 1 s``, ``1.5 s``.

    Whole days are written as hours up to two days (``24 h``, ``36 h``), then as ``d``;
    negative durations get a ``-``.
    """
    if span < timedelta(0):
        return "-" + human_duration(-span)
    micro = span // timedelta(microseconds=1)
    whole, fraction = divmod(micro, 1_000_000)
    parts = []
    if whole >= 2 * 86400 and whole % 86400 == 0:
        return f"{whole // 86400} d"
    for name, unit in (("h", 3600), ("min", 60)):
        if whole >= unit:
            parts.append(f"{whole // unit} {name}")
            whole %= unit
    if whole or fraction or not parts:
        parts.append(f"{whole + fraction / 1_000_000:g} s")
    return " ".join(parts)
