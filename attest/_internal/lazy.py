"""Packages whose public names are imported on first use (PEP 562).

``import attest`` used to import the whole library (pydantic models, the policy engine, numpy
for the border maps): about a second before any command did anything. A Slurm Prolog that
runs ``attest daemon sign-job`` for every job needs almost none of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``exports[name]`` imported when first asked for.

    A subpackage or module of ``package`` is imported when asked for as an attribute, as the
    eager imports used to make happen (``import attest; attest.hardware.PRESETS``).
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
        elif not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
            value = importlib.import_module(f"{package}.{name}")  # `import attest; attest.hardware...`
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value  # found directly from now on
        return value

    return __getattr__


def lazy_dir(package: str, exports: Mapping[str, str]) -> Callable[[], list[str]]:
    """A module ``__dir__`` for ``package``: its own names and every lazy export, importing nothing.

    ``dir()``, ``help()``, tab completion and IDEs that ask the live module then list the public
    API rather than only ``__getattr__``.
    """
    namespace = sys.modules[package].__dict__

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __dir__
