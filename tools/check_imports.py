"""Checks mt_music's import graph: no cycle, and no module importing a layer above its own.

    python tools/check_imports.py            # prints the layers and any problem; exit 1 on a problem
    python tools/check_imports.py --graph    # also lists every module's mt_music imports

Layers, lowest first (docs/design.md §2); a module may import its own layer and those it lists:

    foundation       errors (the error layer every entry point shares; imported by all)
    representations  lmx, midi, image, audio            (pure Python / NumPy; no JAX, no TensorFlow)
    vocabulary       the unified vocabulary
    evaluation       evaluation/ (metrics: SER, note F1, DTW, token EMD, FAD; no JAX, no TensorFlow)
    model            model/, the codecs' networks, losses, tokenizer and evaluation
    training         training/, codecs.trainer          (never data: accelerator hosts have no TensorFlow)
    data             data/, corpus/, datasets/ (the published datasets' readers and builders), ytsv/
                     (the score-video pipeline)          (never training)
    inference        inference/ (exported models, file readers / writers, the Translator, the report;
                     no TensorFlow, no gin: an export runs wherever JAX does)
    entry points     train, eval, export, decode, quickstart, codecs.train, codecs.fit, tasks

TensorFlow, TFDS and SeqIO may be imported only by mt_music.data, mt_music.tasks,
mt_music.corpus.tfds_builder and mt_music.datasets.builders. Every `import` counts for layering, also those inside functions; cycles are searched among
module-level imports (a function-level import runs after both modules are loaded).
"""

from __future__ import annotations

import argparse
import ast
import pathlib
import sys
from collections.abc import Iterable

ROOT = pathlib.Path(__file__).resolve().parents[1]
CODEC_TRAINING = ("mt_music.codecs.trainer",)
CODEC_ENTRY_POINTS = ("mt_music.codecs.train", "mt_music.codecs.fit")
TENSORFLOW_PACKAGES = {"tensorflow", "tensorflow_datasets", "tensorflow_text", "seqio"}
TENSORFLOW_ALLOWED = ("mt_music.data", "mt_music.tasks", "mt_music.corpus.tfds_builder", "mt_music.datasets.builders")
LAYERS = {  # layer: (module prefixes, layers it may import besides its own)
    "foundation": (("mt_music.errors",), ()),
    "representations": (("mt_music.lmx", "mt_music.midi", "mt_music.image", "mt_music.audio"), ("foundation",)),
    "vocabulary": (("mt_music.vocabulary",), ("foundation", "representations")),
    "evaluation": (("mt_music.evaluation",), ("foundation", "representations", "vocabulary")),
    "model": (("mt_music.model", "mt_music.codecs"), ("foundation", "representations", "vocabulary")),
    "training": (("mt_music.training",) + CODEC_TRAINING, ("foundation", "representations", "vocabulary", "model")),
    "data": (("mt_music.data", "mt_music.corpus", "mt_music.datasets", "mt_music.ytsv"), ("foundation", "representations", "vocabulary", "model")),
    "inference": (("mt_music.inference",), ("foundation", "representations", "vocabulary", "model", "data")),
    "entry points": (("mt_music.train", "mt_music.eval", "mt_music.export", "mt_music.decode",
                      "mt_music.media_scoring", "mt_music.quickstart", "mt_music.tasks") + CODEC_ENTRY_POINTS,
                     ("foundation", "representations", "vocabulary", "evaluation", "model", "training", "data",
                      "inference")),
}


def module_files() -> dict[str, pathlib.Path]:
    """Dotted module name → file, for mt_music/ and tasks/ (installed as mt_music.tasks)."""
    files = {}
    for folder, package in ((ROOT / "mt_music", "mt_music"), (ROOT / "tasks", "mt_music.tasks")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join([package, *parts])] = path
    return files


def imports_of(path: pathlib.Path, known: Iterable[str]) -> tuple[set[str], set[str]]:
    """(all mt_music modules `path` imports, those imported at module level)."""
    known = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    everywhere, top = set(), set()
    top_nodes = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]  # a submodule, or an attribute
        else:
            continue
        found = {_owning_module(name, known) for name in names if name.startswith("mt_music")}
        found.discard(None)
        everywhere |= found
        if id(node) in top_nodes:
            top |= found
    return everywhere, top


def third_party_imports(path: pathlib.Path) -> set[str]:
    """Top-level names of every package `path` imports (anywhere in the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def tensorflow_problems(files: dict[str, pathlib.Path]) -> list[str]:
    """Modules outside the data layer that import TensorFlow, TFDS or SeqIO."""
    problems = []
    for module, path in sorted(files.items()):
        if any(module == allowed or module.startswith(allowed + ".") for allowed in TENSORFLOW_ALLOWED):
            continue
        imported = sorted(third_party_imports(path) & TENSORFLOW_PACKAGES)
        if imported:
            problems.append(f"{module} imports {', '.join(imported)}: only data/, tasks/ and the TFDS builders may")
    return problems


def _owning_module(name: str, known: set[str]) -> str | None:
    """The longest known module that `name` (a module or a module.attribute) names."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(module: str) -> str | None:
    """The layer of a module: the one with the longest matching prefix (codecs.trainer beats codecs)."""
    best, best_length = None, -1
    for layer, (prefixes, _) in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = layer, len(prefix)
    return best


def check(graph: dict[str, set[str]], top_level: dict[str, set[str]]) -> list[str]:
    """Problems of an import graph: modules in no layer, upward imports, module-level cycles."""
    problems = []
    for module, targets in sorted(graph.items()):
        source_layer = layer_of(module)
        if module != "mt_music" and source_layer is None:
            problems.append(f"{module}: in no layer (add it to LAYERS in tools/check_imports.py)")
            continue
        for target in sorted(targets - {module, "mt_music"}):
            target_layer = layer_of(target)
            allowed = {source_layer, *LAYERS[source_layer][1]} if source_layer else set()
            if target_layer not in allowed:
                problems.append(f"{module} ({source_layer}) imports {target} ({target_layer}): upward or sideways")
    problems += [f"import cycle: {' → '.join(cycle)}" for cycle in find_cycles(top_level)]
    return problems


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (depth-first search)."""
    cycles, done, stack = [], set(), []
    on_stack: set[str] = set()

    def visit(node: str) -> None:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_stack:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in done:
                visit(target)
        on_stack.discard(stack.pop())
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node)
    return cycles


def package_parents(module: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first: those edges are implicit, not imports."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", action="store_true", help="list every module's mt_music imports")
    args = parser.parse_args(argv)
    files = module_files()
    graph, top_level = {}, {}
    for module, path in files.items():
        everywhere, top = imports_of(path, files)
        graph[module] = everywhere - package_parents(module)
        top_level[module] = top - package_parents(module)
    for layer, (_, allowed) in LAYERS.items():
        members = sorted(m for m in graph if layer_of(m) == layer)
        print(f"{layer:16s} {len(members):3d} modules; may import: {', '.join(allowed) or '(nothing else)'}")
    if args.graph:
        for module, targets in sorted(graph.items()):
            print(f"  {module}: {', '.join(sorted(targets)) or '-'}")
    problems = check(graph, top_level) + tensorflow_problems(files)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports: "
          + ("no cycle, no upward import, TensorFlow only in the data layer" if not problems
             else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
