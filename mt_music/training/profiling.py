"""Where a step's time and memory go: a profiler trace summed by op, and XLA's memory plan of a compiled step.

`trace(directory)` records a jax.profiler trace (open it in Perfetto or TensorBoard's profile plugin)
and `top_costs` reads its Perfetto JSON back: total time per op name on the accelerator's streams (or,
on a CPU-only host, the host threads' XLA thunks), so tools/benchmark.py prints the costliest ops.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import gzip
import json
import os
from collections.abc import Iterator

import jax

# Host-side wrappers around the device work: their time contains the ops' time, so they are not ops.
_WRAPPERS = ("PjitFunction", "ThunkExecutor", "PjRt", "Execute", "$", "SlinkyThreadPool", "Await", "Allocate",
             "ParseArguments", "Handle inputs", "PythonRefManager", "CreateOutputs", "TfrtCpu")


@contextlib.contextmanager
def trace(directory: str) -> Iterator[None]:
    jax.profiler.start_trace(directory, create_perfetto_trace=True)
    try:
        yield
    finally:
        jax.profiler.stop_trace()


def top_costs(directory: str, count: int = 10) -> list[dict]:
    """The `count` op names with the most total time in the newest trace under `directory`:
    [{"op", "ms", "share"}], share of all op time counted."""
    files = sorted(glob.glob(os.path.join(directory, "**", "perfetto_trace.json.gz"), recursive=True),
                   key=os.path.getmtime)
    if not files:
        return []
    with gzip.open(files[-1]) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    processes = {e["pid"]: e.get("args", {}).get("name", "") for e in events
                 if e.get("ph") == "M" and e.get("name") == "process_name"}
    on_device = any(name.startswith("/device:") for name in processes.values())
    totals: collections.Counter = collections.Counter()
    for event in events:
        if event.get("ph") != "X":
            continue
        process = processes.get(event.get("pid"), "")
        if on_device != process.startswith("/device:") or event["name"].startswith(_WRAPPERS):
            continue
        totals[event["name"]] += float(event.get("dur", 0.0))
    total = sum(totals.values()) or 1.0
    return [{"op": name, "ms": micros / 1e3, "share": micros / total} for name, micros in totals.most_common(count)]


def compiled_memory(compiled) -> dict[str, int]:
    """XLA's buffer plan of a compiled program: arguments, outputs, temporaries and their peak (bytes)."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return {}
    sizes = {name: int(getattr(analysis, f"{name}_size_in_bytes", 0))
             for name in ("argument", "output", "temp", "alias", "generated_code")}
    sizes["peak"] = sizes["argument"] + sizes["output"] + sizes["temp"] - sizes["alias"]
    return sizes


def device_peak_bytes(device: jax.Device | None = None) -> int | None:
    """The allocator's high-water mark on an accelerator (None where the backend keeps none, e.g. CPU)."""
    stats = (device or jax.devices()[0]).memory_stats() or {}
    return stats.get("peak_bytes_in_use")
