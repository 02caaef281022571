"""The package's import graph: no cycles, and training never reaches inference.

Read from the source with `ast` (fast, no TensorFlow): every `import` counts,
those inside functions and under `if TYPE_CHECKING:` included (a type-only
import is still a dependency the reader has to follow).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "asr"
INFERENCE = ("asr.transcribe", "asr.streaming", "asr.evaluate", "asr.export")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The `asr` modules that module `name` imports (anywhere in it)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this package
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # `from asr.x import y` imports the module asr.x.y if there is one
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                for a in node.names
            ]
        else:
            continue
        out |= {t for t in targets if t in MODULES and t not in ("asr", name)}
    return out


GRAPH = {name: _imports(name) for name in MODULES}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _cycle() -> list[str] | None:
    """One import cycle, as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for nxt in sorted(GRAPH[name]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_graph_is_read():
    assert "asr.rnn.recurrence" in GRAPH["asr.rnn.layer"]
    assert "asr.decoding.ctc" in GRAPH["asr.transcribe"]
    # a deferred import inside a function counts too
    assert "asr.decoding.ngram" in GRAPH["asr.transcribe"]
    assert "asr.streaming.tflite" in GRAPH["asr.streaming.step"]


def test_no_import_cycle():
    assert _cycle() is None, " -> ".join(_cycle() or [])


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if n.startswith("asr.training"))
)
def test_training_never_imports_inference(name):
    reached = _reachable(name)
    assert not [m for m in reached if m.startswith(INFERENCE)], sorted(reached)


@pytest.mark.parametrize("family", ["asr.rnn", "asr.decoding"])
def test_low_families_import_no_higher_room(family):
    """The layers and decoders sit below training, streaming and inference."""
    higher = ("asr.training", "asr.cli", "asr.demo", *INFERENCE)
    for name in (n for n in MODULES if n.startswith(family)):
        assert not [m for m in _reachable(name) if m.startswith(higher)], name


def test_only_the_cli_imports_the_cli():
    """The library never reaches into `asr.cli` (it prints; the library does
    not): only the CLI's own modules and `python -m asr` import it."""
    users = {
        n for n, deps in GRAPH.items() if any(d.startswith("asr.cli") for d in deps)
    }
    assert {n for n in users if not n.startswith("asr.cli")} <= {"asr.__main__"}


def _registered_layers() -> set[str]:
    """Classes under asr/ decorated with `register_keras_serializable`."""
    names = set()
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                "register_keras_serializable" in ast.unparse(d)
                for d in node.decorator_list
            ):
                names.add(node.name)
    return names


def _layers_given_the_shared_test() -> set[str]:
    """First arguments of `run_layer_test(...)` calls (and parametrised class
    lists passed to one) in the tests."""
    names = set()
    for path in (ROOT.parent / "tests").rglob("test_*.py"):
        source = path.read_text(encoding="utf-8")
        if "run_layer_test" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "run_layer_test"
            ):
                names.add(ast.unparse(node.args[0]))
            # @pytest.mark.parametrize("cls, ...", [(Layer, ...), ...])
            if isinstance(node, ast.Tuple) and node.elts:
                first = node.elts[0]
                if isinstance(first, ast.Name) and first.id[:1].isupper():
                    names.add(first.id)
    return names


def test_every_custom_layer_runs_the_shared_layer_test():
    """tests/layers_test_case.py: config round trip, `.keras` save/load,
    training == inference output, for every layer registered as `asr>...`."""
    registered = _registered_layers()
    assert {"FusedRNN", "LogMel", "Conv2D", "LookAhead"} <= registered
    assert registered - _layers_given_the_shared_test() == set()
