"""The layering rules of docs/design.md §2, as checks that fail when someone breaks them."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Entry points that accelerator hosts run, beside every module of model/ and training/.
ACCELERATOR_ENTRY_POINTS = ("mt_music.train", "mt_music.codecs.trainer", "mt_music.codecs.tokenizer",
                            "mt_music.codecs.patch_image", "mt_music.codecs.spectral_audio",
                            "mt_music.data.synthetic", "mt_music.data.features", "mt_music.data.directions",
                            "mt_music.data.system_frames", "mt_music.data.curriculum", "mt_music.data.translation_mixture",
                            "mt_music.data.token_mixture", "mt_music.data.record_store", "mt_music.data.piece_windows",
                            "mt_music.image.degradations", "mt_music.image.systems", "mt_music.data.output_frames",
                            "mt_music.decode", "mt_music.inference.translator", "mt_music.inference.exported",
                            "mt_music.inference.inputs", "mt_music.inference.outputs", "mt_music.inference.report",
                            "mt_music.inference.browser", "mt_music.vocabulary")
BLOCKED = ("tensorflow", "tensorflow_datasets", "tensorflow_text", "seqio")

# Run in a fresh interpreter: a meta-path finder claims the blocked packages and fails to load them,
# as on a host where they are not installed.
_IMPORT_WITHOUT_TENSORFLOW = """
import importlib, importlib.abc, importlib.machinery, pkgutil, sys
BLOCKED = {blocked!r}

class Unimportable(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        raise ImportError(f"{{spec.name}} is not installed on this host (blocked by the test)")
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, Unimportable())
import mt_music.model, mt_music.training
names = [m.name for package in (mt_music.model, mt_music.training)
         for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
names += {extra!r}
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m] is not None)
print(len(names), "modules", leaked)
"""


def _load_check_imports():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "tools" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_and_training_load_without_tensorflow_or_seqio():
    code = _IMPORT_WITHOUT_TENSORFLOW.format(blocked=BLOCKED, extra=list(ACCELERATOR_ENTRY_POINTS))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    count, leaked = result.stdout.split(" modules ")
    assert int(count) >= 15 and leaked.strip() == "[]", result.stdout


def test_tensorflow_is_imported_only_in_the_data_layer():
    """The rule a reader sees from the tree: TF/SeqIO/TFDS under data/, tasks/ and the corpus builder only."""
    checker = _load_check_imports()
    assert checker.tensorflow_problems(checker.module_files()) == []


def test_the_import_graph_has_no_cycle_and_no_upward_import():
    result = subprocess.run([sys.executable, "tools/check_imports.py"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no cycle, no upward import" in result.stdout


@pytest.mark.parametrize("graph, expected", [
    ({"mt_music.model.layers": {"mt_music.training.trainer"}, "mt_music.training.trainer": set()},
     "upward or sideways"),
    ({"mt_music.training.trainer": {"mt_music.data.synthetic"}, "mt_music.data.synthetic": set()},
     "upward or sideways"),
    ({"mt_music.lmx.files": {"mt_music.lmx.cli"}, "mt_music.lmx.cli": {"mt_music.lmx.files"}}, "import cycle"),
    ({"mt_music.nowhere": set()}, "in no layer"),
])
def test_the_import_checker_finds_what_it_should(graph, expected):
    problems = _load_check_imports().check(graph, graph)
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_import_checker_accepts_the_allowed_directions():
    graph = {"mt_music.data.synthetic": {"mt_music.vocabulary", "mt_music.model.layers"},
             "mt_music.codecs.trainer": {"mt_music.training.trainer", "mt_music.codecs.models"},
             "mt_music.train": {"mt_music.training.launch"}, "mt_music.vocabulary": {"mt_music.lmx.vocabulary"}}
    assert _load_check_imports().check(graph, graph) == []
