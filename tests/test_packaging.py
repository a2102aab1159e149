"""The install story: requirements.txt and setup.py agree, the package layout installs."""

import importlib
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _requirement_names(lines) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _setup_requirements() -> set[str]:
    spec = importlib.util.spec_from_file_location("_setup_lists", ROOT / "setup.py")
    source = (ROOT / "setup.py").read_text()
    lists = source.split("setuptools.setup(")[0]  # only the requirement lists
    namespace: dict = {}
    exec(compile(lists, str(spec.origin), "exec"), namespace)
    lines = namespace["REPRESENTATION"] + namespace["DATA_PIPELINE"] + namespace["MODEL_CORE"]
    return _requirement_names(lines)


def test_requirements_and_setup_declare_the_same_runtime_packages():
    pinned = _requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    declared = _setup_requirements()
    test_and_lint = {"pytest", "pytest-xdist", "ruff"}
    assert declared == pinned - test_and_lint


def test_peer_requirements_match_the_setup_extra_and_the_makefile_installs_them():
    source = (ROOT / "setup.py").read_text()
    extra = re.search(r'"peers": \[([^\]]*)\]', source).group(1)
    declared = _requirement_names(re.findall(r'"([^"]+)"', extra))
    pinned = _requirement_names((ROOT / "requirements-peers.txt").read_text().splitlines())
    assert declared == pinned
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements-peers.txt" in makefile and "--no-deps $(BASIC_PITCH)" in makefile


def test_requirements_pins_every_ml_stack_version():
    text = (ROOT / "requirements.txt").read_text()
    for package in ("jax", "flax", "optax", "orbax-checkpoint", "seqio", "tensorflow", "music21", "verovio"):
        assert re.search(rf"^{re.escape(package)}==\S+", text, re.M), f"{package} is not pinned"


def test_tasks_import_under_mt_music():
    tasks = importlib.import_module("mt_music.tasks")
    assert pathlib.Path(tasks.__file__).parent == ROOT / "tasks"


def test_gin_search_path_finds_the_gin_folder():
    from mt_music.training.gin_paths import gin_search_paths

    assert ROOT / "gin" in gin_search_paths()


def test_wheel_ships_tasks_and_gin_configs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("mt_music-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mt_music/tasks/__init__.py" in names
    assert "mt_music/vocabulary.py" in names
    gin_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gin").rglob("*.gin"))
    shipped = sorted(n.split("/data/share/mt_music/", 1)[1] for n in names if "/data/share/mt_music/gin/" in n)
    assert gin_files and shipped == gin_files
    assert not any(n.startswith(("tests/", "tools/", "gin/")) for n in names)


def test_the_gin_config_folder_does_not_shadow_the_gin_library():
    result = subprocess.run([sys.executable, "-c", "import gin; print(gin.parse_config)"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "function" in result.stdout, result.stderr


def test_readme_opens_with_the_setup_and_test_commands_and_ci_runs_the_test_one():
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [line.split("#", 1)[0].strip() for line in lines[:12] if line.startswith("    ")]
    commands = [command for command in commands if command]  # a comment may run on over several lines
    assert commands[:2] == ["make", "make test"], commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), "CI must run the README's test command"


@pytest.mark.parametrize("module", ["mt_music.lmx", "mt_music.midi"])
def test_cli_help_explains(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "usage" in result.stdout.lower() and len(result.stdout) > 200


def test_representation_layer_imports_neither_tensorflow_nor_jax():
    code = (
        "import sys; import mt_music.lmx.cli, mt_music.midi.cli, mt_music.image.pixels, mt_music.image.staves, "
        "mt_music.image.preprocessing, mt_music.image.grids, mt_music.image.engraving, mt_music.audio.synthesis, "
        "mt_music.vocabulary; bad = [m for m in ('tensorflow', 'jax', 'seqio') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_stdout_stays_clean_when_ci_is_set(tmp_path):
    """pyfluidsynth prints a library-found line on stdout at import when $CI is set."""
    midi_file = tmp_path / "one_note.mid"
    import pretty_midi

    score = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.5))
    score.instruments.append(piano)
    score.write(str(midi_file))
    result = subprocess.run([sys.executable, "-m", "mt_music.midi", "encode", str(midi_file)],
                            env={**os.environ, "CI": "true"}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "was found" not in result.stdout
    assert result.stdout.split()[0] == "tie" and "pitch:60" in result.stdout.split()
