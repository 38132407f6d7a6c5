"""Helpers every verb uses: reading inputs, writing outputs, report formats, dates."""

from __future__ import annotations

import argparse
import errno
import functools
import gc
import hashlib
import json
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from attest.crypto.canonical import DEFAULT_MAX_BYTES
from attest.errors import InputError, InputTooLarge

if TYPE_CHECKING:  # pydantic is imported by the commands that read models, not by every command
    from attest.model.base import WireModel

M = TypeVar("M", bound="WireModel")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in epilogs laid out as written."""


def add_format(parser: argparse.ArgumentParser, default: str = "text", *, more: tuple[str, ...] = ()) -> None:
    """Add ``--format json|text`` (and ``more`` choices) to a verb that reports."""
    parser.add_argument(
        "--format",
        choices=["json", "text", *more],
        default=default,
        help=f"output format (default: {default})",
    )


def add_alias(parser: argparse.ArgumentParser, *old: str, dest: str, **kwargs: Any) -> None:
    """Keep a former spelling of an option working, hidden from ``--help`` (one name per thing is shown)."""
    parser.add_argument(*old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


def require(args: argparse.Namespace, dest: str, flag: str, *, hint: str | None = None) -> Any:
    """The value of an option that has a hidden alias (so argparse cannot require it), or exit 2."""
    value = getattr(args, dest, None)
    if value is None:
        raise InputError(f"{flag} is required", hint=hint)
    return value


def finite_float(text: str) -> float:
    """An argparse ``type``: a number, refusing NaN and infinities (which compare false with every bound)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_between(low: int, high: int, unit: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, else a usage error (exit 2).

    Times, durations and counts are bounded where they are read: an option such as
    ``--skew 99999999999999`` is a usage error that names the range, not an ``OverflowError``
    deep inside the verifier.
    """
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text}: must be between {low:,} and {high:,}{suffix}")
        return value

    return parse


def _number(value: float) -> str:
    """A bound as a person writes it: ``86,400``, ``1,000,000,000``, ``0.01``."""
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def float_between(low: float, high: float, unit: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` to ``high``, else a usage error (exit 2)."""
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        value = finite_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text}: must be between {_number(low)} and {_number(high)}{suffix}"
            )
        return value

    return parse


MAX_DURATION = timedelta(days=366)
"""The longest span any time option takes (--max-silence, --max-log-delay): a year and a day."""


def duration_option(text: str) -> timedelta:
    """An argparse ``type``: a span such as ``90m``, ``2h``, ``3d`` or ``3600`` (seconds), at most a year and a day."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        scale = units.get(text[-1:], 1)
        number = float(text[:-1] if text[-1:] in units else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 90m, 2h, 3600)") from None
    if not math.isfinite(number) or not 0 <= number * scale <= MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(f"{text}: a duration must be between 0 and 366d (a year and a day)")
    return timedelta(seconds=number * scale)


# A coordinate list such as -6.2,106.8,9.5 is a value, not an option: argparse takes only plain
# negative numbers (-6.2) for values, and would say "expected one argument".
_NEGATIVE_VALUE = re.compile(r"^-(\d*\.?\d+([eE][-+]?\d+)?(,[-+\d.eE]*)*|inf|infinity|nan)$", re.IGNORECASE)


def allow_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take values such as ``-6.2,106.8,9.5`` after an option (``--disk -6.2,106.8,9.5``)."""
    parser._negative_number_matcher = _NEGATIVE_VALUE  # argparse's own hook, since 3.2


def parse_nonce(text: str, *, flag: str = "--nonce") -> str:
    """A caller nonce: 16 to 64 random bytes in hex (lower-cased), refused (exit 2) otherwise."""
    nonce = text.strip().lower()
    if not (32 <= len(nonce) <= 128 and len(nonce) % 2 == 0) or any(
        c not in "0123456789abcdef" for c in nonce
    ):
        raise InputError(
            f"{flag} {text!r} is not a nonce: it must be 16 to 64 bytes written in hex (32 to 128 hex digits)",
            hint="make one with: openssl rand -hex 16",
        )
    return nonce


def add_written_format(parser: argparse.ArgumentParser) -> None:
    """``--format json|text`` on a verb that writes a document: how it reports what it wrote with ``-o``."""
    parser.add_argument(
        "--format",
        choices=["json", "text"],
        default="text",
        help="with -o: report what was written as a line (text, the default) or a JSON object; "
        "without -o the document itself is the output",
    )


def read_input(path: str, *, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole file (``-`` for stdin) of at most ``max_bytes``.

    A regular file is read with as few system calls as its size allows (``attest verify`` reads
    thousands of them in one call); whatever it is, every byte up to end of file is read, or
    none is used.

    Raises:
        InputTooLarge: the input is larger, naming its real size (nothing of it is returned:
            a prefix is never used in place of the whole).
        InputError: missing, a directory, or unreadable.
    """
    with _input_errors(what, path):
        if path == "-":
            return _read_whole(sys.stdin.buffer.read, f"{what} on standard input", max_bytes)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            regular = stat.S_ISREG(info.st_mode)
            if regular and info.st_size > max_bytes:
                raise InputTooLarge(f"{what} {path}", info.st_size, max_bytes)
            # A regular file's size is known: ask for it and one byte more (a file that grew since
            # is then read on, and judged whole); anything else (a pipe) is read as a stream.
            first = info.st_size + 1 if regular else 1 << 16
            return _read_whole(functools.partial(os.read, fd), f"{what} {path}", max_bytes, first=first)
        finally:
            os.close(fd)


def sha256_input(path: str, *, what: str) -> str:
    """``sha256:<hex>`` of a whole file (``-`` for stdin) of any size, read in chunks: never of a prefix."""
    digest = hashlib.sha256()
    with (
        _input_errors(what, path),
        nullcontext(sys.stdin.buffer) if path == "-" else Path(path).open("rb") as fh,
    ):
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


@contextmanager
def _input_errors(what: str, path: str) -> Iterator[None]:
    """Turn the operating system's reasons a file cannot be read into one clear :class:`InputError`."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None


_COUNT_AT_MOST = 1 << 30
"""How far an oversize stream is read on, only to say its size (beyond: "more than")."""


def _read_whole(read: Callable[[int], bytes], label: str, max_bytes: int, *, first: int = 0) -> bytes:
    """Everything ``read`` gives up to end of input, or :class:`InputTooLarge` past ``max_bytes``.

    ``read(n)`` returns at most ``n`` bytes and ``b""`` only at the end (a file object's ``read``,
    or ``os.read`` of a descriptor); ``first`` is how much to ask for first (default: the limit
    and one byte more).
    """
    parts: list[bytes] = []
    size = 0
    want = min(first, max_bytes + 1) if first > 0 else max_bytes + 1
    while chunk := read(want):
        parts.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            del parts
            while size <= _COUNT_AT_MOST:
                chunk = read(1 << 20)
                if not chunk:
                    raise InputTooLarge(label, size, max_bytes)
                size += len(chunk)
            raise InputTooLarge(label, size, max_bytes, exact=False)
        want = min(1 << 16, max_bytes + 1 - size)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_model(path: str, model: type[M], *, what: str) -> M:
    """Read and strictly validate a JSON file as ``model``."""
    return model.from_json(read_input(path, what=what), what=f"{what} {path}")


def check_output(out: str) -> Path:
    """Refuse (exit 2) an output path that cannot be a file: a directory, or one in no directory.

    Verbs that work long before they write (an audit) call it first; :func:`write_output` does too.
    Returns the directory the file goes into.
    """
    target = Path(out)
    directory = target.parent if str(target.parent) else Path()
    if target.is_dir():
        raise InputError(f"cannot write {out}: it is a directory", hint="give a file name")
    if not directory.is_dir():
        raise InputError(f"cannot write {out}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {out}: directory {directory} is not writable")
    return directory


def write_output(data: bytes, out: str | None) -> None:
    """Write to ``out`` atomically (temporary file + rename), or to stdout when ``out`` is None or ``-``."""
    if out is None or out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(out)
    directory = check_output(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # noqa: PTH101  # mkstemp creates 0600; outputs are public documents
        Path(tmp).replace(target)
    except OSError as exc:  # a directory made there meanwhile, a full disk: said, not a traceback
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_written(args: argparse.Namespace, out: str | None, summary: dict[str, Any], text: str) -> None:
    """After a verb wrote its document to ``out``: one line (text) or one JSON object (json) on stdout.

    Nothing when the document itself went to stdout (no ``-o``): it is the output.
    """
    if out is None or out == "-":
        return
    if getattr(args, "format", "text") == "json":
        print(json.dumps({"output": out, **summary}, ensure_ascii=False))
    else:
        print(text)


def parse_when(text: str, *, end_of_day: bool = False) -> datetime:
    """Parse a date (``2027-01-01``, midnight UTC, or end of day) or an RFC 3339 timestamp."""
    stamp = text
    try:
        if len(text) == 10:
            datetime.strptime(text, "%Y-%m-%d")  # the form and the calendar; the range as any timestamp
            stamp = f"{text}T{'23:59:59.999999' if end_of_day else '00:00:00'}Z"
        from attest.model.base import parse_timestamp

        return parse_timestamp(stamp)
    except ValueError as exc:
        if "outside the years" in str(exc):
            raise InputError(f"{text!r} is outside the years 1970 to 2199 that a time may name") from None
        raise InputError(
            f"{text!r} is not a date (YYYY-MM-DD) or an RFC 3339 timestamp (2026-11-28T09:00:00Z)"
        ) from None


def stderr(message: str) -> None:
    """Print a diagnostic line on stderr."""
    print(message, file=sys.stderr)


def add_policy_arg(parser: argparse.ArgumentParser) -> None:
    """``--policy NAME|FILE|none``: the export-control policy a verb applies (default: us-ear)."""
    from attest.policy import BUNDLED

    parser.add_argument(
        "--policy",
        default="us-ear",
        metavar="NAME|FILE",
        help=f"export-control policy: bundled ({', '.join(BUNDLED)}) or a TOML file; 'none' to skip (default: us-ear)",
    )


def policy_from_args(args: argparse.Namespace) -> Any:
    """The :class:`attest.policy.Policy` that :func:`add_policy_arg` named, or None for ``none``.

    Built as :func:`long_lived`: a policy and its screening index live as long as the command.
    """
    from attest.policy import load_policy

    if args.policy == "none":
        return None
    with long_lived():
        return load_policy(args.policy)


@contextmanager
def long_lived() -> Iterator[None]:
    """Build what a command keeps to its end (a policy, its screening index) out of the cyclic GC's way.

    The collector is paused while the block builds (hundreds of thousands of objects, none of
    them garbage: each pass over them is wasted, a quarter of ``attest verify``'s start), and
    everything alive when the block ends is frozen (:func:`gc.freeze`): later collections, run
    while thousands of envelopes are judged, no longer walk the policy's index each time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()


def add_evidence_args(parser: argparse.ArgumentParser) -> None:
    """``--cc-root``, ``--cc-root-sha256`` and ``--landmarks``: what GPU and location evidence is checked against."""
    from attest.hardware.cc import NVIDIA_DEVICE_IDENTITY_ROOT_SHA256

    parser.add_argument(
        "--cc-root",
        metavar="PEM",
        help="GPU vendor root certificate: check CC evidence (hardware-bound grade)",
    )
    parser.add_argument(
        "--cc-root-sha256",
        default=NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
        metavar="HEX",
        help="the fingerprint the root must have (default: NVIDIA's Device Identity CA)",
    )
    parser.add_argument(
        "--landmarks",
        metavar="FILE",
        help="trusted landmark registry: evaluate landmark receipts (measured grade)",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="fetch the OCSP status of GPU chains whose binding carries none (from the certificates' "
        "responder, or --ocsp-url); without it such GPUs are not hardware-bound. With --rims/--rim-root, "
        "also fetch RIMs missing from the cache from NVIDIA's RIM service",
    )
    parser.add_argument(
        "--ocsp-url",
        metavar="URL",
        help="with --online: ask this OCSP responder for every GPU certificate (a mirror, or a simulated vendor's)",
    )
    parser.add_argument(
        "--allow-no-revocation",
        action="store_true",
        help="labs only: grade GPUs hardware-bound without their chains' revocation status",
    )
    add_rim_args(parser, with_online=False)
    parser.add_argument(
        "--nras-jwks",
        metavar="FILE",
        help="NRAS's JWKS: an NRAS token carried with a GPU's report may stand in for the RIMs",
    )


def add_rim_args(parser: argparse.ArgumentParser, *, with_online: bool = True) -> None:
    """``--rims``, ``--rim-root``, ``--rim-root-sha256``, ``--rim-service`` (and ``--online``): appraise GPU measurements."""
    parser.add_argument(
        "--rims",
        metavar="DIR",
        help="cache directory of NVIDIA reference integrity manifests (<RIM id>.xml): appraise GPU measurements",
    )
    if with_online:
        parser.add_argument(
            "--online",
            action="store_true",
            help="with --rim-root: fetch RIMs missing from --rims (or all, without it) from NVIDIA's RIM service",
        )
    parser.add_argument(
        "--rim-service",
        metavar="URL",
        default=None,
        help="with --online: the RIM service (a mirror for air-gapped sites); default: NVIDIA's, "
        "https://rim.attestation.nvidia.com/v1/rim/",
    )
    parser.add_argument(
        "--rim-root",
        metavar="PEM",
        help="with --rims/--online: the RIM root certificate (NVIDIA's verifier_RIM_root.pem)",
    )
    parser.add_argument(
        "--rim-root-sha256",
        default=None,
        metavar="HEX",
        help="the fingerprint the RIM root must have (default: NVIDIA's RIM root)",
    )


def add_as_of_arg(parser: argparse.ArgumentParser, *, default: str) -> None:
    """``--as-of issued|now``: the moment expiry, key trust periods and time-bound evidence are judged at."""
    parser.add_argument(
        "--as-of",
        choices=("issued", "now"),
        default=default,
        help="judge expiry, the signing key's trust period and GPU certificates as of each "
        "manifest's issued_at ('issued': was it valid when it was signed? for past manifests) or of --now "
        f"('now': is it valid now?). Revoked keys and manifests dated after --now fail either way (default: {default})",
    )


def pinned_root(path: str, pin: str, *, flag: str, pin_flag: str, default_pin: str, what: str) -> bytes:
    """A root certificate file (PEM) that must be the pinned one: refused here, once, with exit 2.

    A file that holds no certificate, or several, or a root whose SHA-256 is not the pin, is a
    configuration error: judged per envelope, it would refuse every GPU of every envelope with
    the same finding, as if each chain were untrusted. The refusal names the file's fingerprint,
    to pin on purpose (``pin_flag``) when this root is the one meant.
    """
    from attest.hardware.cc import EvidenceError, fingerprint, parse_chain

    pem = read_input(path, what=f"{what} certificate")
    try:
        roots = parse_chain(pem)
    except EvidenceError as exc:
        raise InputError(
            f"{flag} {path} is not a usable root certificate: {exc.message}",
            hint=f"give the {what} certificate in PEM",
        ) from None
    if len(roots) != 1:
        raise InputError(f"{flag} {path} holds {len(roots)} certificates; a root is one certificate")
    found = fingerprint(roots[0])
    if found != pin:
        whose = f"the default, {what}" if pin == default_pin else f"given by {pin_flag}"
        raise InputError(
            f"{flag} {path} is not the pinned root: its SHA-256 is {found}, the pin ({whose}) is {pin}",
            hint=f"if you trust this root, pin it: {pin_flag} {found}",
        )
    return pem


def root_pin(text: str) -> str:
    """A root certificate's SHA-256 pin, refused here (exit 2) unless it is 64 hex digits.

    A mistyped pin would otherwise refuse every GPU of every envelope, as if each chain were untrusted.
    """
    pin = text.strip().lower().replace(":", "")
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise InputError(
            f"{text!r} is not a SHA-256 fingerprint (64 hex digits)",
            hint="openssl x509 -in ROOT.pem -outform DER | sha256sum",
        )
    return pin


def evidence_options(args: argparse.Namespace, **more: Any) -> Any:
    """The :class:`attest.verify.VerifyOptions` that :func:`add_evidence_args` asked for."""
    from attest.hardware.cc import NVIDIA_DEVICE_IDENTITY_ROOT_SHA256, ChainCache
    from attest.model.location import LandmarkRegistry
    from attest.verify import VerifyOptions

    cc_pin = root_pin(args.cc_root_sha256)
    return VerifyOptions(
        cc_root=pinned_root(
            args.cc_root,
            cc_pin,
            flag="--cc-root",
            pin_flag="--cc-root-sha256",
            default_pin=NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
            what="NVIDIA's Device Identity CA",
        )
        if args.cc_root
        else None,
        cc_root_sha256=cc_pin,
        cc_cache=ChainCache(),
        landmarks=read_model(args.landmarks, LandmarkRegistry, what="landmark registry")
        if args.landmarks
        else None,
        as_of_issue=getattr(args, "as_of", "now") == "issued",
        rims=rim_appraiser(args),
        nras_jwks=_nras_jwks(args.nras_jwks) if getattr(args, "nras_jwks", None) else None,
        require_revocation=not args.allow_no_revocation,
        ocsp_fetcher=_ocsp_fetcher(args),
        **more,
    )


def rim_appraiser(args: argparse.Namespace) -> Any:
    """The :class:`attest.hardware.rim.RimAppraiser` that ``--rims``/``--online``/``--rim-root`` ask for, or None."""
    from attest.hardware.rim import (
        NVIDIA_RIM_ROOT_SHA256,
        RIM_SERVICE_URL,
        ChainedRims,
        DirectoryRims,
        OnlineRims,
        RimAppraiser,
        RimError,
        RimSource,
    )

    rims, online = getattr(args, "rims", None), getattr(args, "online", False)
    if not rims and not getattr(args, "rim_root", None):
        if getattr(args, "rim_service", None):
            raise InputError("--rim-service goes with --rim-root and --online")
        return None  # measurements not appraised (a warning in each result)
    if not getattr(args, "rim_root", None):
        raise InputError(
            "--rims needs --rim-root PEM",
            hint="NVIDIA's RIM root is verifier_RIM_root.pem from NVIDIA/nvtrust (SHA-256 12977b51…)",
        )
    if not rims and not online:
        raise InputError("--rim-root goes with --rims DIR or --online (where the RIMs come from)")
    try:
        cache = DirectoryRims(Path(rims)) if rims else None
    except RimError as exc:
        raise InputError(exc.message) from None
    if getattr(args, "rim_service", None) and not online:
        raise InputError("--rim-service goes with --online")
    url = (args.rim_service or RIM_SERVICE_URL) if online else RIM_SERVICE_URL
    if not url.startswith(("https://", "http://")):
        raise InputError(f"--rim-service must be an http(s) URL, not {url!r}")
    url = url if url.endswith("/") else url + "/"
    source: RimSource = OnlineRims(cache, url=url) if online else ChainedRims([cache] if cache else [])
    pinned = root_pin(args.rim_root_sha256) if args.rim_root_sha256 else NVIDIA_RIM_ROOT_SHA256
    root = pinned_root(
        args.rim_root,
        pinned,
        flag="--rim-root",
        pin_flag="--rim-root-sha256",
        default_pin=NVIDIA_RIM_ROOT_SHA256,
        what="NVIDIA's RIM root",
    )
    return RimAppraiser(source, root, pinned_root_sha256=pinned)


def _nras_jwks(path: str) -> Any:
    """The ``--nras-jwks`` keys by kid."""
    from attest.hardware.nras import MAX_TOKEN_BYTES, load_jwks

    return load_jwks(read_input(path, what="NRAS JWKS", max_bytes=MAX_TOKEN_BYTES))


def _ocsp_fetcher(args: argparse.Namespace) -> Any:
    """The OCSP fetcher ``--online`` asks for (None without it)."""
    if args.ocsp_url and not args.online:
        raise InputError("--ocsp-url goes with --online")
    if not args.online:
        return None
    from attest.hardware.ocsp import HttpOcspFetcher

    return HttpOcspFetcher(override_url=args.ocsp_url)


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def printable(text: str) -> str:
    """``text`` with control characters escaped, for a terminal.

    Names and messages in a report come from signed manifests, that is from the party being
    audited: a tenant named with a newline, a carriage return or an ANSI escape sequence could
    otherwise forge report lines or erase the ones that name a failure.
    """
    return text.translate(_CONTROL)
