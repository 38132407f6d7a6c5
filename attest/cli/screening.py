"""``attest screen`` and ``attest lists import|update|show|status``: restricted-party screening."""

from __future__ import annotations

import argparse
import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import requests

from attest.cli.common import HelpFormatter, add_format, finite_float, read_input, write_output
from attest.errors import InputError
from attest.policy.engine import default_lists_dir
from attest.policy.screening import (
    BUNDLED_LISTS,
    ScreeningList,
    bundled_list,
    load_list,
    normalize,
    read_list_file,
    screener_for,
)

CSL_URL = "https://data.trade.gov/downloadable_consolidated_screening_list/v1/consolidated.json"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verbs."""
    s = sub.add_parser(
        "screen",
        help="screen a party (and its parent) against restricted-party lists",
        description="Screen a name, and optionally its parent's, against restricted-party lists: exact and alias "
        "matches after normalization (case, punctuation, legal forms, scripts), and near matches above a threshold.",
        epilog="""exit codes: 0 no match, 1 near matches only, 3 an exact or alias match, 2 usage error.

examples:
  attest screen "Zhipu AI"
  attest screen "Alibaba Cloud (Singapore) Pte. Ltd." --parent "Alibaba Group Holding Limited" --format json
  attest screen "Example Corp" --list csl --list seed

lists: by default the bundled US Consolidated Screening List (csl, 2026-07-31), the DoD 1260H
list (1260h, 2026-06-10) and the seed; a list imported under the same name replaces one.""",
        formatter_class=HelpFormatter,
    )
    s.add_argument("name")
    s.add_argument(
        "--parent", action="append", default=[], metavar="NAME", help="the parent chain (repeatable)"
    )
    s.add_argument(
        "--list",
        action="append",
        dest="lists",
        metavar="NAME|FILE",
        help="lists to use (default: csl, 1260h, seed; imported ones replace the bundled)",
    )
    s.add_argument(
        "--threshold",
        type=finite_float,
        default=90.0,
        help="near-match score threshold, 50-100 (default: 90)",
    )
    s.add_argument(
        "--lists-dir",
        metavar="DIR",
        help="where imported lists are kept (default: $ATTEST_LISTS_DIR or ~/.local/share/compute-attest/lists)",
    )
    add_format(s)
    s.set_defaults(func=run_screen)

    p = sub.add_parser(
        "lists",
        help="import, update or show screening lists",
        description="Keep screening lists: import the official Consolidated Screening List (JSON or CSV), the "
        "DoD 1260H list, or download the CSL; show what is installed. A list imported under the name of a bundled "
        "one (csl, 1260h, seed) replaces it.",
        epilog="examples:\n  attest lists status\n  attest lists import consolidated.json --name csl\n"
        "  attest lists import dod-1260h.json --name 1260h\n  attest lists update\n  attest lists show csl",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="lists_verb", required=True, metavar="{status,import,update,show}")
    st = verbs.add_parser(
        "status",
        help="what is installed: each list's name, date, size, age and origin",
        epilog="example:\n  attest lists status --format json",
        formatter_class=HelpFormatter,
    )
    st.add_argument("--lists-dir", metavar="DIR")
    add_format(st)
    st.set_defaults(func=run_status)
    im = verbs.add_parser(
        "import",
        help="import a list file: the official CSL (JSON or CSV), its compact projection, or the DoD 1260H list",
        epilog="examples:\n  attest lists import consolidated.csv --name csl\n  attest lists import dod-1260h.json --name 1260h",
        formatter_class=HelpFormatter,
    )
    im.add_argument("file")
    im.add_argument("--name", default="csl", help="the list's name (default: csl)")
    im.add_argument("--lists-dir", metavar="DIR")
    add_format(im)
    im.set_defaults(func=run_import)
    up = verbs.add_parser(
        "update",
        help="download the official CSL and import it",
        epilog=f"example:\n  attest lists update   # from {CSL_URL}",
        formatter_class=HelpFormatter,
    )
    up.add_argument("--url", default=CSL_URL)
    up.add_argument("--name", default="csl")
    up.add_argument("--timeout", type=finite_float, default=60.0)
    up.add_argument("--lists-dir", metavar="DIR")
    add_format(up)
    up.set_defaults(func=run_update)
    sh = verbs.add_parser(
        "show",
        help="summarize a list",
        epilog="example:\n  attest lists show seed",
        formatter_class=HelpFormatter,
    )
    sh.add_argument("name", nargs="?", default="seed")
    sh.add_argument("--lists-dir", metavar="DIR")
    add_format(sh)
    sh.set_defaults(func=run_show)


def _dir(args: argparse.Namespace, *, read: bool = False) -> Path:
    """The lists directory; with ``read``, refused (exit 2) when it exists but cannot be read.

    An unreadable directory must not pass for an empty one: the bundled lists would then
    stand in for the imported ones without a word.
    """
    directory = Path(args.lists_dir) if args.lists_dir else default_lists_dir()
    if read and (directory.exists() or directory.is_symlink()):
        if not directory.is_dir():
            raise InputError(f"lists directory {directory} is not a directory")
        try:
            next(directory.iterdir(), None)
        except OSError as exc:
            raise InputError(f"cannot read lists directory {directory}: {exc.strerror}") from None
        if not os.access(directory, os.X_OK):
            raise InputError(f"cannot read lists directory {directory}: Permission denied")
    return directory


def run_screen(args: argparse.Namespace) -> int:
    """Screen and report; the exit code says how strong the worst match is."""
    if not 50 < args.threshold <= 100:
        raise InputError("--threshold must be above 50 and at most 100")
    for n in [args.name, *args.parent]:
        if not normalize(n):
            # An empty shell variable ("attest screen "$TENANT"") must not screen clean.
            raise InputError(
                f"nothing to screen in {n!r}: the name has no letters or digits",
                hint="pass the party's legal name",
            )
    refs = args.lists or ["csl", "1260h", "seed"]
    screener = screener_for(
        [load_list(r, _dir(args, read=True)) for r in refs], near_threshold=args.threshold
    )
    matches = screener.screen_party([args.name, *args.parent])
    if args.format == "json":
        print(
            json.dumps(
                {
                    "screened": [args.name, *args.parent],
                    "lists": refs,
                    "list_sources": [
                        {"name": lst.name, "date": lst.date, "entries": len(lst.entries)}
                        for lst in screener.lists
                    ],
                    "matches": [m.to_obj() for m in matches],
                },
                ensure_ascii=False,
            )
        )
    elif not matches:
        print(
            f"no match for {args.name!r} in {', '.join(f'{lst.name} of {lst.date}' for lst in screener.lists)}"
        )
    else:
        for m in matches:
            print(
                f"{m.kind:<5} {m.score:5.1f}  {m.list}: {m.entry.name}  (as {m.matched_name!r}, screening "
                f"{m.screened!r}) [{m.source}]"
            )
    if any(m.kind != "near" for m in matches):
        return 3
    return 1 if matches else 0


def _store(lst_bytes: bytes, args: argparse.Namespace, source: str) -> int:
    if lst_bytes[:2] == b"\x1f\x8b":  # gzip, as the compact CSL projection is published
        try:
            lst_bytes = gzip.decompress(lst_bytes)
        except (OSError, EOFError) as exc:
            raise InputError(f"{source} is not a readable gzip file: {exc}") from None
    imported = read_list_file(lst_bytes, name=args.name, date=datetime.now(UTC).date().isoformat())
    target = _dir(args)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {target}: {exc.strerror}") from None
    write_output((imported.to_json(indent=None) + "\n").encode("utf-8"), str(target / f"{args.name}.json"))
    by_list: dict[str, int] = {}
    for e in imported.entries:
        by_list[e.list_id] = by_list.get(e.list_id, 0) + 1
    if getattr(args, "format", "text") == "json":
        print(
            json.dumps(
                {
                    "imported": len(imported.entries),
                    "name": args.name,
                    "date": imported.date,
                    "source": source,
                    "path": str(target / f"{args.name}.json"),
                    "lists": dict(sorted(by_list.items(), key=lambda kv: -kv[1])),
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(
        f"imported {len(imported.entries)} entries from {source} as {args.name} of {imported.date} "
        f"({target / (args.name + '.json')})"
    )
    for name, n in sorted(by_list.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>6}  {name}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Import a CSL file."""
    return _store(read_input(args.file, what="list file", max_bytes=512 * 1024 * 1024), args, args.file)


def run_update(args: argparse.Namespace) -> int:
    """Download the CSL and import it."""
    try:
        response = requests.get(args.url, timeout=args.timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise InputError(
            f"could not download {args.url}: {exc}", hint="without a network, use: attest lists import FILE"
        ) from None
    return _store(response.content, args, args.url)


def run_show(args: argparse.Namespace) -> int:
    """Summarize a list."""
    lst = load_list(args.name, _dir(args, read=True))
    if args.format == "json":
        print(
            json.dumps(
                {"name": lst.name, "date": lst.date, "entries": len(lst.entries), "about": lst.about},
                ensure_ascii=False,
            )
        )
    else:
        print(f"{lst.name} ({lst.date}): {len(lst.entries)} entries\n  {lst.about}")
    return 0


def _summary(lst: ScreeningList, origin: str, today: datetime) -> dict[str, object]:
    by_list: dict[str, int] = {}
    for e in lst.entries:
        by_list[e.list_id] = by_list.get(e.list_id, 0) + 1
    try:
        age: int | None = (today.date() - datetime.fromisoformat(lst.date[:10]).date()).days
    except ValueError:
        age = None
    return {
        "name": lst.name,
        "date": lst.date,
        "entries": len(lst.entries),
        "age_days": age,
        "origin": origin,
        "lists": dict(sorted(by_list.items(), key=lambda kv: -kv[1])),
        "about": lst.about,
    }


def run_status(args: argparse.Namespace) -> int:
    """Every list a policy can name: the bundled ones and those imported, which replace them by name."""
    directory = _dir(args, read=True)
    imported = sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []
    today = datetime.now(UTC)
    rows = []
    for name in [*BUNDLED_LISTS, *(n for n in imported if n not in BUNDLED_LISTS)]:
        if name in imported:
            lst = load_list(name, directory)
            origin = f"imported: {directory / (name + '.json')}"
            if name in BUNDLED_LISTS:
                origin += f" (replaces the bundled {name} of {bundled_list(name).date})"
        else:
            lst, origin = bundled_list(name), f"bundled: attest/policy/data/{BUNDLED_LISTS[name]}"
        rows.append(_summary(lst, origin, today))
    notice = (
        "The bundled csl is a compact projection of the official consolidated.json under the MIT licence "
        "(attest/policy/data/LICENSE.csl-projection.MIT.txt); the lists are US government works."
    )
    if args.format == "json":
        print(json.dumps({"lists": rows, "lists_dir": str(directory), "notice": notice}, ensure_ascii=False))
        return 0
    for row in rows:
        age = f", {row['age_days']} days old" if row["age_days"] is not None else ""
        print(f"{row['name']:<8} {row['date']}  {row['entries']:>6,} entries{age}  {row['origin']}")
        parts = ", ".join(f"{k} {v:,}" for k, v in row["lists"].items())  # type: ignore[attr-defined]
        print(f"         {parts}")
    print(notice)
    return 0
