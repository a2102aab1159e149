"""Session set-up that must precede JAX's backend: 8 simulated CPU devices, one compilation cache.

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
