"""Slurm helpers that must not call Slurm commands (prologs may not): host lists and GPU indices."""

from __future__ import annotations

import re

from attest.errors import InputError

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def expand_hostlist(text: str) -> list[str]:
    """``gpu-[01-03,07],login1`` → ``gpu-01 gpu-02 gpu-03 gpu-07 login1`` (Slurm's compressed form).

    Raises:
        InputError: unbalanced brackets or a malformed range.
    """
    hosts: list[str] = []
    depth, start = 0, 0
    parts = []
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise InputError(f"host list {text!r}: unbalanced ']'")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise InputError(f"host list {text!r}: unbalanced '['")
    parts.append(text[start:])
    for part in (p.strip() for p in parts):
        if not part:
            continue
        hosts.extend(_expand_one(part, text))
    return hosts


def _expand_one(part: str, whole: str) -> list[str]:
    m = re.search(r"\[([^\[\]]*)\]", part)
    if m is None:
        return [part]
    prefix, suffix = part[: m.start()], part[m.end() :]
    out: list[str] = []
    for item in m.group(1).split(","):
        r = _RANGE.match(item.strip())
        if r is None:
            raise InputError(f"host list {whole!r}: {item!r} is not N or N-M")
        lo, hi = r.group(1), r.group(2) or r.group(1)
        if int(hi) < int(lo) or int(hi) - int(lo) > 100_000:
            raise InputError(f"host list {whole!r}: range {item!r} is empty or too large")
        width = len(lo)
        for n in range(int(lo), int(hi) + 1):
            out.extend(_expand_one(f"{prefix}{n:0{width}d}{suffix}", whole))
    return out


def gpu_indices(slurm_job_gpus: str | None, cuda_visible_devices: str | None) -> list[str]:
    """Physical GPU indices of the job on this node, as prologs see them.

    ``SLURM_JOB_GPUS`` (``0,1`` or ``0-3``) wins; ``CUDA_VISIBLE_DEVICES`` is physical in a
    prolog (it runs outside the job's cgroup). Empty when neither is set.
    """
    raw = slurm_job_gpus or cuda_visible_devices or ""
    out: list[str] = []
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        if item.startswith(("GPU-", "MIG-")):
            out.append(item)
            continue
        r = _RANGE.match(item)
        if r is None:
            raise InputError(f"GPU list {raw!r}: {item!r} is not an index, a range or a UUID")
        lo, hi = int(r.group(1)), int(r.group(2) or r.group(1))
        out.extend(str(n) for n in range(lo, hi + 1))
    return out
