"""An exported model (`python -m mt_music.export`) loaded for decoding: no TensorFlow, SeqIO or gin.

`load(export_dir)` checks the completion marker and the files' sizes first (a half-written or
damaged export is one clear error), rebuilds the network and vocabulary from `model.json`,
restores the parameters onto the first device and loads the codecs the model was trained with.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from mt_music.errors import UserError
from mt_music.inference import sampling
from mt_music.vocabulary import Modality, UnifiedVocabulary, VocabularyConfig

FORMAT_VERSION = 1
PARAMS_DIR = "params"
MANIFEST = "model.json"
MARKER = "EXPORTED"


def default_sampling() -> dict[str, dict[str, float]]:
    return {modality.name: dict(settings) for modality, settings in sampling.DEFAULTS.items()}


def save_params(path: Path, params: Any) -> None:
    checkpointer = ocp.PyTreeCheckpointer()
    checkpointer.save(os.path.abspath(path), params)
    checkpointer.close()


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MARKER}


def write_marker(folder: Path) -> None:
    (folder / MARKER).write_text(json.dumps({"format": FORMAT_VERSION, "files": _files(folder)}, indent=1) + "\n")


def check_complete(folder: Path) -> dict:
    """The manifest of a complete, undamaged export; UserError naming the problem otherwise."""
    if not folder.is_dir():
        raise UserError(f"--model: {folder} does not exist; give a folder written by `python -m mt_music.export`")
    if not (folder / MARKER).is_file():
        raise UserError(f"--model: {folder} is not a complete export (no {MARKER} marker: the export was "
                        "interrupted or this is another folder); export again")
    expected = json.loads((folder / MARKER).read_text())["files"]
    found = _files(folder)
    damaged = sorted(name for name, size in expected.items() if found.get(name) != size)
    if damaged:
        raise UserError(f"--model: {folder} is damaged ({len(damaged)} files missing or changed, e.g. {damaged[0]}); "
                        "export again")
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise UserError(f"--model: {folder} has export format {manifest.get('format')}; this mt_music reads "
                        f"format {FORMAT_VERSION}: export again with this version")
    return manifest


def parameter_count(folder: Path) -> int:
    metadata = ocp.PyTreeCheckpointer().metadata(os.path.abspath(Path(folder) / PARAMS_DIR))
    tree = getattr(metadata, "item_metadata", metadata) or {}
    tree = getattr(tree, "tree", tree)
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree) if hasattr(leaf, "shape")))


@dataclasses.dataclass
class ExportedModel:
    model: Any  # models.EncoderDecoderModel
    params: Any
    codecs: dict[str, Any]  # "image" / "audio" → the codec (absent when the export has none)
    sampling: dict[Modality, dict[str, float]]
    manifest: dict
    folder: Path

    @property
    def vocabulary(self) -> UnifiedVocabulary:
        return self.model.vocabulary

    def codec(self, kind: str):
        if kind not in self.codecs:
            raise UserError(f"--model: {self.folder} was exported without an {kind} codec; export again with "
                            f"--{kind}-codec")
        return self.codecs[kind]


def build_model(manifest: dict):
    from mt_music.model import models, network

    vocabulary = UnifiedVocabulary(VocabularyConfig(**manifest["vocabulary"]))
    module = network.Transformer(network.TransformerConfig(**manifest["transformer"]))
    return models.EncoderDecoderModel(module, vocabulary, **manifest.get("model", {}))


def abstract_params(model, dtype: str = "float32"):
    """The model's parameter shapes on the first device (what a restore fills in); they do not depend
    on sequence lengths, so a short dummy batch sizes them."""
    import flax.linen as nn
    import jax.numpy as jnp

    shapes = {"encoder_input_tokens": (1, 8, model.vocabulary.num_slots),
              "decoder_input_tokens": (1, 8, model.vocabulary.num_slots)}
    abstract = nn.meta.unbox(jax.eval_shape(lambda: model.get_initial_variables(jax.random.key(0), shapes))["params"])
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, jnp.dtype(dtype), sharding=sharding),
                                  abstract)


def load(folder: str | os.PathLike) -> ExportedModel:
    from mt_music.codecs import tokenizer

    folder = Path(folder)
    manifest = check_complete(folder)
    model = build_model(manifest)
    target = abstract_params(model, manifest.get("params_dtype", "float32"))
    checkpointer = ocp.PyTreeCheckpointer()
    params = checkpointer.restore(os.path.abspath(folder / PARAMS_DIR), item=target,
                                  restore_args=ocp.checkpoint_utils.construct_restore_args(target))
    checkpointer.close()
    codecs = {kind: tokenizer.load_codec(folder / entry["path"]) for kind, entry in manifest.get("codecs", {}).items()}
    settings = {Modality[name]: dict(values) for name, values in manifest.get("sampling", default_sampling()).items()}
    return ExportedModel(model, params, codecs, settings, manifest, folder)
