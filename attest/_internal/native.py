"""The verifier's hot path compiled to C by mypyc, used only while it is exactly the source beside it.

``setup.py`` compiles the modules in :data:`COMPILED` with mypyc when it can (a C compiler and
mypy in the build environment) and records the SHA-256 of each source it compiled in
``compiled.json`` beside this file. The compiled modules are one unit: a compiled module calls
the others' compiled functions directly, whatever module object Python has imported. So they
are used together or not at all:

- all of them, when the record names every one and each ``.py`` beside them is the source that
  was compiled (an editable install whose source was edited since runs that source, never a
  stale build);
- none of them otherwise, or when ``ATTEST_PURE=1`` is set: the same modules run as Python.

Both run the same source, so both give the same verdicts; the compiled one is faster. The tests
run the verifier's differential and tamper tests under both (``tests/test_native.py``).
:func:`install` puts the finder that decides this first on ``sys.meta_path``; ``attest``'s
``__init__`` calls it before anything else of the package is imported.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["COMPILED", "install", "status"]

COMPILED = (
    "attest._internal.memo",
    "attest._internal.sightings",
    "attest._internal.wirevalues",
    "attest.crypto.dsse",
    "attest.crypto.keys",
    "attest.model.fastread",
    "attest.sign",
    "attest.verify",
)
"""The modules ``setup.py`` compiles (a test holds the two lists equal)."""

RECORD = Path(__file__).with_name("compiled.json")
"""What the build compiled: ``{"group": the shared compiled unit's module, "modules": {name: sha256 of its source}}``."""

_ROOT = (
    Path(__file__).resolve().parent.parent.parent
)  # the directory holding the ``attest`` package (and the unit)


def _source(name: str) -> Path:
    return _ROOT.joinpath(*name.split(".")).with_suffix(".py")


def _decide() -> tuple[bool, str]:
    if os.environ.get("ATTEST_PURE") == "1":
        return False, "pure Python (ATTEST_PURE=1)"
    try:
        record = json.loads(RECORD.read_bytes())
        modules = record["modules"]
    except FileNotFoundError:
        return False, "pure Python (not compiled: no C compiler or mypyc when it was installed)"
    except (OSError, ValueError, KeyError, TypeError):
        return False, f"pure Python ({RECORD.name} is unreadable)"
    if not isinstance(modules, dict) or sorted(modules) != sorted(COMPILED):
        return False, f"pure Python ({RECORD.name} names other modules)"
    group = record.get("group")
    if group is not None:  # the compiled code the modules share, as their import will find it
        try:
            spec = importlib.util.find_spec(str(group))
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            return False, f"pure Python (the compiled unit {group} is not importable here)"
        # Its name is the same in every build of these modules: only the one installed beside this
        # package is this build's (another tree's, earlier on the path, would run other code).
        if Path(spec.origin).resolve().parent != _ROOT:
            return False, f"pure Python (the compiled unit found first is another build's: {spec.origin})"
    for name in COMPILED:
        source = _source(name)
        try:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
        except FileNotFoundError:
            continue  # an install that ships only the compiled module: nothing else could run
        except OSError:
            return False, f"pure Python ({source.name} is unreadable)"
        if digest != modules[name]:
            return False, f"pure Python ({name} changed since it was compiled: reinstall to compile it again)"
    return True, "compiled (mypyc)"


class _Finder:
    """Loads each module of :data:`COMPILED` from its ``.py`` source unless the compiled unit is current."""

    def __init__(self) -> None:
        self.native, self.reason = _decide()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if self.native or fullname not in COMPILED:
            return None  # the usual finders: a compiled extension module is found before its source
        source = _source(fullname)
        if not source.is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, source, loader=importlib.machinery.SourceFileLoader(fullname, str(source))
        )


_FINDER: _Finder | None = None


def install() -> None:
    """Decide, once per process, between the compiled unit and the source, before any of it is imported."""
    global _FINDER
    if _FINDER is None:
        _FINDER = _Finder()
        sys.meta_path.insert(0, _FINDER)


def status() -> str:
    """Which the process runs: ``compiled (mypyc)``, or ``pure Python (why)``; checked against the loaded modules."""
    install()
    assert _FINDER is not None
    loaded = [sys.modules[name] for name in COMPILED if name in sys.modules]
    native = [m for m in loaded if not str(getattr(m, "__file__", "")).endswith(".py")]
    if native and len(native) != len(loaded):  # pragma: no cover - the finder loads all or none
        return "mixed (a bug: some compiled, some not)"
    if _FINDER.native and loaded and not native:
        return "pure Python (the compiled modules are not installed)"
    return _FINDER.reason
