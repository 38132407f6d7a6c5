"""Build: the verifier's hot path compiled to C with mypyc where it can be, pure Python where not.

Everything else about the package is in ``pyproject.toml``. The modules of
``attest._internal.native.COMPILED`` are compiled by mypyc (mypy's compiler, which mypy and
black ship compiled with) from the very same, ``mypy --strict``-clean source: a heartbeat's
verification then spends about a quarter less outside its signature check (``bench/README.md``).
When it cannot compile — no C compiler, ``ATTEST_COMPILE=0``, a type error under the build's
mypy — the build says so and installs the pure Python package, which gives the same verdicts.

On success it writes ``attest/_internal/compiled.json`` with the SHA-256 of each source
compiled; at import, the compiled modules are used only while every source beside them is that
one (``attest._internal.native``), so an editable install whose source was edited runs the
source, never a stale build.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
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
RECORD = Path("attest", "_internal", "compiled.json")

# The build environment holds mypy and the libraries whose types the compiled modules' own code
# names (pyproject's build requirements), not every dependency: the rest of the package and the
# other libraries are taken as Any here (calls into them are ordinary Python calls), and
# ``mypy --strict`` with everything installed is the tests' check of the very same source.
MYPY_CONFIG = """\
[mypy]
python_version = 3.11
plugins = pydantic.mypy
ignore_missing_imports = True
follow_imports = silent

[mypy-attest.*]
follow_imports = skip
"""


def _sources() -> list[str]:
    return [str(Path(*name.split(".")).with_suffix(".py")) for name in COMPILED]


def _say(message: str) -> None:
    print(f"compute-attest: {message}", file=sys.stderr)


def _extensions() -> list[object]:
    if os.environ.get("ATTEST_COMPILE", "1") == "0":
        _say("ATTEST_COMPILE=0: installing pure Python")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc is not in the build environment: installing pure Python")
        return []
    config = Path(tempfile.mkdtemp(prefix="attest-mypyc-")) / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    try:
        return list(mypycify([*_sources(), "--config-file", str(config)], opt_level="3"))
    except BaseException as exc:  # mypy exits on a type error: the pure package is still a package
        if isinstance(exc, KeyboardInterrupt):
            raise
        _say(f"mypyc could not compile the verifier ({exc!r}): installing pure Python")
        return []


class BuildExt(build_ext):
    """Builds the compiled modules if it can, then records what it compiled; on any failure, none."""

    def run(self) -> None:
        """Build, record the sources compiled, or remove whatever was built and leave the package pure."""
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # no C compiler, a compiler error: the package stays pure Python
            _say(f"the compiled verifier could not be built ({exc}): installing pure Python")
            self._remove_outputs()
            return
        groups = [ext.name for ext in self.extensions if ext.name.endswith("__mypyc")]
        record = {
            "group": groups[0] if groups else None,
            "modules": {
                name: hashlib.sha256((HERE / source).read_bytes()).hexdigest()
                for name, source in zip(COMPILED, _sources(), strict=True)
            },
        }
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        for root in {Path(self.build_lib), HERE if self.inplace else Path(self.build_lib)}:
            (root / RECORD).parent.mkdir(parents=True, exist_ok=True)
            (root / RECORD).write_text(text)
        _say("the verifier's hot path is compiled (mypyc)")

    def _remove_outputs(self) -> None:
        for output in self.get_outputs():
            Path(output).unlink(missing_ok=True)
        for root in (Path(self.build_lib), HERE):
            (root / RECORD).unlink(missing_ok=True)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
