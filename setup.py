"""Installs mt_music; `tasks/` ships as `mt_music.tasks`, `gin/` as data in share/mt_music/gin.

`gin/` is not a Python package on purpose: run from the checkout, a package named
`gin` there would shadow the gin-config library. mt_music.training.gin_paths finds the
folder in a checkout and in an install.

requirements.txt pins the versions known to install together (docs/design.md §7); the
ranges here are what the code needs. tests/test_packaging.py keeps both in step.
"""

import pathlib

import setuptools

REPRESENTATION = [
    "numpy>=1.26,<2.3",
    "scipy>=1.11",
    "music21>=9.1,<11",
    "verovio>=4.3,<7",
    "pretty_midi>=0.2.10",
    "note-seq>=0.0.5",
    "mir_eval>=0.7",
    "librosa>=0.10,<0.12",
    "soundfile>=0.12",
    "audioread>=3.0",
    "pyfluidsynth>=1.3.3",
    "Pillow>=10.0",
    "pypdfium2==5.15.2",
    "fonttools>=4.40",
    "brotli>=1.1",
    "tqdm>=4.66",
    "absl-py>=2.1",
]
DATA_PIPELINE = [
    "tensorflow>=2.16,<2.22",
    "tensorflow-text>=2.16,<2.22",
    "tensorflow-datasets>=4.9.4",
    "seqio>=0.0.19",
    "sentencepiece<0.2.3",  # 0.2.3's generated protobuf code needs protobuf 7, which apache-beam does not allow
    "apache-beam>=2.60",  # --runner: the build steps as Beam pipelines
    "tensorboard>=2.16",  # clu's SummaryWriter (TensorFlow hosts)
]
MODEL_CORE = [
    "jax>=0.4.35",
    "jaxlib>=0.4.35",
    "flax>=0.10",
    "optax>=0.2.3",
    "orbax-checkpoint>=0.9",
    "clu>=0.0.12",
    "gin-config>=0.5.0",
]



def gin_data_files() -> list[tuple[str, list[str]]]:
    """(install dir, files) pairs that mirror gin/ under <prefix>/share/mt_music/gin."""
    folders: dict[str, list[str]] = {}
    for path in sorted(pathlib.Path("gin").rglob("*.gin")):
        folders.setdefault(str(pathlib.Path("share/mt_music") / path.parent), []).append(str(path))
    return sorted(folders.items())


setuptools.setup(
    name="mt_music",
    version="0.1.0",
    description="Cross-modal music translation (score image, LMX, MIDI, audio) in JAX/Flax.",
    python_requires=">=3.10,<3.13",  # tensorflow-text has no build for 3.13
    packages=setuptools.find_packages(include=["mt_music", "mt_music.*"]) + ["mt_music.tasks"],
    package_dir={"mt_music.tasks": "tasks"},
    data_files=gin_data_files(),
    install_requires=REPRESENTATION + DATA_PIPELINE + MODEL_CORE,
    extras_require={
        "test": ["pytest>=8.0", "pytest-xdist>=3.5"],
        "dev": ["pytest>=8.0", "pytest-xdist>=3.5", "ruff>=0.6"],
        # basic-pitch itself is installed with --no-deps (its TensorFlow pin
        # clashes); these are the runtime pieces its ONNX model needs. resampy
        # 0.4.3: older ones import pkg_resources, which setuptools no longer ships.
        # requirements-peers.txt pins them (tests/test_packaging.py).
        "peers": ["onnxruntime>=1.17", "resampy>=0.4.3"],
    },
)
