"""The package's imports point down: read every module of ``attest/`` with ``ast``.

Every ``import`` and ``from ... import`` counts: at module level, under ``if TYPE_CHECKING``,
and inside functions (a function-local import is still a dependency; it only hides a cycle
from the interpreter). A module may import from its own layer or a lower one, never a higher
one, and the module graph has no cycle. The order is README's "Layers" section, lowest first.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "attest"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("attest.errors", "attest._internal", "attest._internal.lazy", "attest._internal.memo", "attest.units"),  # foundations
    ("attest.storage", "attest.crypto.canonical"),  # database errors; strict JSON, canonical encoding
    ("attest.model",),  # the wire models
    ("attest.crypto",),  # keys, DSSE envelopes, the trust store
    ("attest.sign", "attest.ear"),  # signing manifests and results
    ("attest.hardware",),  # what attests: GPUs, their evidence, the chip catalog
    ("attest.location",),  # what attests: landmarks, receipts, regions, borders
    ("attest.build",),  # a manifest from evidence
    ("attest.policy",),  # what judges: export-control rules, screening
    ("attest.anchors", "attest.replay", "attest.seams"),  # which anchors produced a verdict, by content; the verifier's state
    ("attest.verify",),  # what judges: the pipeline
    ("attest.scheduler",),  # who relies: admission
    ("attest.log",),  # what records: the log, collector, witness, monitor
    ("attest.daemon",),  # the node's signing daemon
    ("attest.audit",),  # audits of many manifests (their worker processes: attest.audit._parallel)
    ("attest",),  # the package's face (attest/__init__.py)
    ("attest.cli", "attest.schemas"),  # the edges: the command, the schema generator
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix naming ``module``."""
    best, length = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = i, len(prefix)
    if best < 0 or (length == len("attest") and module != "attest"):
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and README's Layers)")
    return best


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported attest module) for every import in the module, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "attest"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "attest":
                continue
            for alias in node.names:  # ``from attest.log import merkle`` imports the module attest.log.merkle
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else target))
    return found


def _graph() -> dict[str, set[str]]:
    return {m: {t for _, t in imports_of(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_points_up() -> None:
    upward = [
        f"{MODULES[m].relative_to(REPO)}:{line}: {m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, p in MODULES.items()
        for line, t in imports_of(m, p)
        if t in MODULES and layer_of(t) > layer_of(m)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append([*path[path.index(t) :], t])
            elif t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_what_it_must() -> None:
    # The test must fail on what it is meant to catch: a function-local import upward, and a cycle.
    src = "def f():\n    from attest.verify import verify_envelope\n"
    tree_imports = [
        (n.lineno, n.module) for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom) and n.module
    ]
    assert tree_imports == [(2, "attest.verify")] and layer_of("attest.verify") > layer_of("attest.model.base")
    assert layer_of("attest.crypto.canonical") < layer_of("attest.model.base") < layer_of("attest.crypto.dsse")
    assert layer_of("attest.log.collector") > layer_of("attest.scheduler.evidence")
    monitor = imports_of("attest.log.monitor", MODULES["attest.log.monitor"])
    assert ("attest.log.cosignature" in {t for _, t in monitor}) and "attest.log.witness" not in {t for _, t in monitor}
