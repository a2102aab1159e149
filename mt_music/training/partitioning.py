"""Device mesh, logical axis rules and shardings (T5X `partitioning` on jax.jit + NamedSharding).

Parameters and activations carry logical axis names (layers.py); the rules here
map them onto a `(data, fsdp, model)` mesh. The same model runs unchanged on one
CPU, on 8 simulated devices and on a multi-host slice: only the mesh differs.

Rules: batch → (data, fsdp), vocab/mlp/heads → model, embed → fsdp when the fsdp
axis is larger than 1 (ZeRO-3 style: parameters and optimizer state sharded along
d_model, gathered per layer by XLA), everything else replicated. A parameter
dimension that its mesh axes do not divide (e.g. 4 heads over model=8) is
replicated instead, so any config runs on any mesh (activation constraints may be
uneven; XLA pads those).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from absl import logging
from jax.experimental import mesh_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mt_music.errors import UserError
from mt_music.model import layers

MESH_AXES = ("data", "fsdp", "model")
BATCH_AXES = ("data", "fsdp")
Rules = tuple[tuple[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Mesh shape; one axis may be -1 (the devices left over).

    `dcn_data` > 1 spreads the data axis over that many slices joined by the slow
    network — TPU slices, or processes (GPU/CPU hosts) when all devices report
    one slice; `data` is then the data parallelism inside one slice.
    """

    data: int = -1
    fsdp: int = 1
    model: int = 1
    dcn_data: int = 1

    def __post_init__(self):
        for name in ("data", "fsdp", "model", "dcn_data"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not (value >= 1 or value == -1):
                raise UserError(f"partitioning.MeshConfig.{name} must be a positive integer or -1 (the devices "
                                f"left over), got {value!r}")


def _resolve(shape: Sequence[int], total: int) -> tuple[int, ...]:
    shape = list(shape)
    if shape.count(-1) > 1:
        raise UserError(f"partitioning.MeshConfig: at most one mesh axis may be -1, got {shape}")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if total % known:
            raise UserError(f"partitioning.MeshConfig: {total} devices cannot fill mesh {shape}; choose axis sizes that divide {total}")
        shape[shape.index(-1)] = total // known
    if math.prod(shape) != total:
        raise UserError(f"partitioning.MeshConfig: mesh {shape} needs {math.prod(shape)} devices, there are {total}; "
                        "set one axis to -1 or sizes whose product is the device count")
    return tuple(shape)


def make_mesh(config: MeshConfig = MeshConfig(), devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, fsdp, model) mesh with Auto axes (Explicit axes would bypass the logical rules)."""
    devices = list(devices if devices is not None else jax.devices())
    auto = (AxisType.Auto,) * len(MESH_AXES)
    if config.dcn_data == 1:
        shape = _resolve((config.data, config.fsdp, config.model), len(devices))
        return jax.make_mesh(shape, MESH_AXES, axis_types=auto, devices=devices)
    if len(devices) % config.dcn_data:
        raise UserError(f"partitioning.MeshConfig.dcn_data: {len(devices)} devices do not split into {config.dcn_data} slices")
    per_slice = _resolve((config.data, config.fsdp, config.model), len(devices) // config.dcn_data)
    # TPU slices when devices carry several slice indices; otherwise (GPU/CPU hosts) one granule per process.
    by_process = len({getattr(d, "slice_index", 0) for d in devices}) == 1
    grid = mesh_utils.create_hybrid_device_mesh(per_slice, (config.dcn_data, 1, 1), devices,
                                                process_is_granule=by_process)
    return Mesh(grid, MESH_AXES, axis_types=auto)


def logical_axis_rules(mesh: Mesh) -> Rules:
    """layers.standard_logical_axis_rules with batch over (data, fsdp) and embed over fsdp when used."""
    overrides = {"batch": BATCH_AXES, "embed": "fsdp" if mesh.shape["fsdp"] > 1 else None}
    return tuple((name, overrides.get(name, axis)) for name, axis in layers.standard_logical_axis_rules())


def _is_box(x: Any) -> bool:
    return isinstance(x, nn.meta.AxisMetadata)


def unbox(tree: Any) -> Any:
    """Plain values of a boxed tree, without applying sharding constraints (safe outside jit)."""
    return jax.tree.map(lambda x: x.unbox(apply_constraint=False) if _is_box(x) else x, tree, is_leaf=_is_box)


class Partitioner:
    """A mesh and its rules: shardings for boxed trees, sharded init, global batches."""

    def __init__(self, mesh: Mesh, rules: Rules | None = None):
        self.mesh = mesh
        self.rules = rules if rules is not None else logical_axis_rules(mesh)

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        """Mesh + rules for tracing: logical constraints inside the model resolve against them."""
        with jax.set_mesh(self.mesh), nn.logical_axis_rules(self.rules):
            yield

    # ------------------------------------------------------------ shardings

    def sharding(self, logical: P | None, shape: Sequence[int]) -> NamedSharding:
        """Mesh sharding of one array from its logical axis names; undividable dims replicate."""
        mesh_axes = nn.logical_to_mesh_axes(tuple(logical or ()), self.rules)
        spec = []
        for size, axes in zip(shape, tuple(mesh_axes) + (None,) * (len(shape) - len(mesh_axes))):
            names = (axes,) if isinstance(axes, str) else tuple(axes or ())
            ways = math.prod(self.mesh.shape[name] for name in names)
            if size % ways:
                logging.log_first_n(logging.INFO, "dim of size %d in %s is not divisible by mesh axes %s "
                                    "(%d ways); replicated", 8, size, tuple(shape), names, ways)
                axes = None
            spec.append(axes)
        return NamedSharding(self.mesh, P(*spec))

    def shardings(self, boxed_abstract: Any) -> Any:
        """NamedShardings for the unboxed version of a (boxed, abstract) tree; unboxed leaves replicate."""
        logical = nn.get_partition_spec(boxed_abstract)
        return jax.tree.map(lambda spec, a: self.sharding(spec, a.shape), logical, unbox(boxed_abstract),
                            is_leaf=lambda x: isinstance(x, P))

    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    def init(self, init_fn: Callable[..., Any], *args) -> tuple[Any, Any]:
        """Runs a boxed init function straight into sharded arrays: eval_shape → shardings → jit.

        Returns (unboxed state, its shardings); nothing is materialised unsharded.
        """
        # Init runs once: on CPU its compile is most of its cost, and unoptimised code halves that.
        options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
        with self.activate():
            boxed = jax.eval_shape(init_fn, *args)
            shardings = self.shardings(boxed)
            state = jax.jit(lambda *a: nn.meta.unbox(init_fn(*a)), out_shardings=shardings,
                            compiler_options=options)(*args)
        return state, shardings

    def abstract(self, init_fn: Callable[..., Any], *args) -> Any:
        """ShapeDtypeStructs with shardings of what `init` would make (a checkpoint restore target)."""
        with self.activate():
            boxed = jax.eval_shape(init_fn, *args)
        shardings = self.shardings(boxed)
        return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), unbox(boxed), shardings)

    # ------------------------------------------------------------ data

    @property
    def data_sharding(self) -> NamedSharding:
        """Batch dimension over (data, fsdp); other dimensions replicated."""
        return NamedSharding(self.mesh, P(BATCH_AXES))

    @property
    def batch_ways(self) -> int:
        """Devices the batch dimension is split over (data × fsdp): batches come in multiples of it."""
        return math.prod(self.mesh.shape[name] for name in BATCH_AXES)

    def data_layout(self, global_batch_size: int) -> tuple[int, int]:
        """(shard index, number of shards) of the batch rows this process feeds.

        Processes whose devices hold the same rows (e.g. a model axis across hosts)
        get the same index, so they read the same data.
        """
        ways = self.batch_ways
        if global_batch_size % ways:
            raise UserError(f"BATCH_SIZE {global_batch_size} is not divisible by the mesh's data×fsdp = {ways}; "
                            f"use a multiple of {ways}")
        index_map = self.data_sharding.addressable_devices_indices_map((global_batch_size,))
        blocks = {(s[0].start or 0, s[0].stop or global_batch_size) for s in index_map.values()}
        start, stop = min(a for a, _ in blocks), max(b for _, b in blocks)
        size = stop - start
        if sum(b - a for a, b in blocks) != size or start % size or global_batch_size % size:
            raise ValueError(f"this process holds batch rows {sorted(blocks)}, not one aligned block")
        return start // size, global_batch_size // size

    def global_batch(self, local_batch: Mapping[str, np.ndarray], global_batch_size: int) -> dict[str, jax.Array]:
        """Per-process rows → global arrays sharded over (data, fsdp)."""
        return {name: jax.make_array_from_process_local_data(
                    self.data_sharding, value, (global_batch_size,) + value.shape[1:])
                for name, value in local_batch.items()}


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, auto: bool = False) -> None:
    """jax.distributed.initialize for multi-host runs; a no-op on one host.

    Pass the coordinator `host:port`, the process count and this process's id, or
    `auto=True` where JAX detects them itself (Cloud TPU, SLURM, Open MPI).
    """
    if coordinator_address is None and not auto:
        if num_processes not in (None, 1):
            raise UserError("--num_processes > 1 needs --coordinator_address=HOST:PORT (or --multihost_auto)")
        return
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)
    logging.info("process %d of %d; %d local of %d devices", jax.process_index(), jax.process_count(),
                 jax.local_device_count(), jax.device_count())
