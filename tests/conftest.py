"""Session set-up that must precede JAX's backend (8 simulated CPU devices, one compilation cache),
the `slow` marker, and the tiny model fixtures that the model, network and decoding tests share.

Single-device tests are unaffected by the devices (un-sharded jit runs on device 0).
The cache directory is made once (by the xdist controller, whose environment the
workers and any subprocess inherit), so a program compiled in one worker — the tiny
model's init, say — is loaded, not recompiled, by the others; it is removed at exit.
"""

import atexit
import os
import shutil
import tempfile

_DEVICES = "--xla_force_host_platform_device_count=8"
if _DEVICES not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICES}".strip()
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mt_music_jax_cache_")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)

import pytest  # noqa: E402  (after the environment above: importing jax reads it)
from model_testing import init_params, tiny_model  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes over a minute on 2 cores (deselect with -m 'not slow')")


@pytest.fixture(scope="module")
def model():
    """The tiny translation model (tests/model_testing.py); a module may define its own."""
    return tiny_model()


@pytest.fixture(scope="module")
def params(model):
    return init_params(model)


def pytest_collection_modifyitems(config, items):
    """`slow` tests first: with two xdist workers they then run beside the rest instead of at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
