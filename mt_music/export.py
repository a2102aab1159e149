r"""Exports a training run for decoding: `python -m mt_music.export MODEL_DIR -o EXPORT_DIR`.

The export is a self-contained folder that a machine without TensorFlow, SeqIO or gin loads
(`mt_music.inference.exported.load`):

    params/               the parameters only (optimizer state dropped), orbax, fp32 or bf16 (--dtype)
    model.json            the network and vocabulary configuration, the decoding defaults per output
                          modality, the run and step it came from, the codecs' paths and fingerprints
    operative_config.gin  the run's gin, for the record
    codecs/image, codecs/audio   the codecs the run's tokens were baked with
    EXPORTED              written last, with the files' sizes: a folder without it is never loaded

The model is rebuilt from the run's own `config.gin`, so the export needs no model gin file. It
is written into `EXPORT_DIR.partial` and renamed when complete, so a crash leaves no half export
where a user would load it.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mt_music.errors import ArgumentParser, UserError, check_output_dir, main_with_errors
from mt_music.inference import exported

CODEC_DEFAULTS = {"image": "assets/codecs/image_cpu", "audio": "assets/codecs/audio_cpu"}


def configured_model(model=None):
    """Gin's MODEL of a run (bound by `_run_model`); a function so that gin can configure it."""
    return model


def _run_model(model_dir: Path):
    """The run's model, rebuilt from the config.gin the training wrote."""
    import gin

    config = model_dir / "config.gin"
    if not config.is_file():
        raise UserError(f"MODEL_DIR: {model_dir} has no config.gin; give the folder a training run wrote "
                        "(python -m mt_music.train … --gin.MODEL_DIR=…)")
    gin.clear_config()
    try:
        gin.parse_config(config.read_text() + "\nfrom mt_music import export\nexport.configured_model.model = %MODEL\n")
        # by module name: under `python -m` this file is __main__, which gin did not register
        model = gin.get_configurable(importlib.import_module("mt_music.export").configured_model)()
    except Exception as error:  # noqa: BLE001 - any gin failure here is a config.gin that is not a run's
        raise UserError(f"MODEL_DIR: {config} does not rebuild a model ({' '.join(str(error).split())[:300]})") from error
    finally:
        gin.clear_config()
    if model is None:
        raise UserError(f"MODEL_DIR: {config} binds no MODEL")
    return model


def _checked_codec(kind: str, path: str, vocabulary):
    from mt_music.codecs import tokenizer

    try:
        codec = tokenizer.load_codec(path)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"--{kind}-codec: {error}") from error
    expected = (vocabulary.config.num_slots, getattr(vocabulary.config, f"{kind}_codebook_size"))
    if codec.kind != kind or (codec.num_codebooks, codec.codebook_size) != expected:
        raise UserError(f"--{kind}-codec: {path} is an {codec.kind} codec with {codec.num_codebooks} codebooks of "
                        f"{codec.codebook_size} codes; the model's vocabulary has {expected[0]} of {expected[1]} "
                        f"{kind} codes: give the codec the run's tokens were baked with")
    return codec


def _copy_codec(source: Path, destination: Path, step: int | None) -> None:
    """codec.json and the arrays (fitted) or the one checkpoint step it loads (trained), nothing else."""
    destination.mkdir(parents=True)
    for name in ("codec.json", "arrays.npz"):
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)
    if step is not None and (source / "checkpoints" / str(step)).is_dir():
        shutil.copytree(source / "checkpoints" / str(step), destination / "checkpoints" / str(step))


def export(model_dir: str | os.PathLike, output: str | os.PathLike, *, step: int | None = None,
           dtype: str = "float32", image_codec: str | None = CODEC_DEFAULTS["image"],
           audio_codec: str | None = CODEC_DEFAULTS["audio"], force: bool = False) -> Path:
    """Writes the export; returns its folder."""
    from mt_music.data.token_bake import codec_fingerprint
    from mt_music.training import checkpoints

    model_dir, output = Path(model_dir), Path(output)
    if dtype not in ("float32", "bfloat16"):
        raise UserError(f"--dtype: {dtype!r}; give float32 or bfloat16")
    if not model_dir.is_dir():
        raise UserError(f"MODEL_DIR: {model_dir} does not exist; give a training run's folder")
    if output.exists() and not force:
        raise UserError(f"-o: {output} exists; give a new folder or --force to replace it")
    check_output_dir(output.parent if str(output.parent) else Path("."), "-o")
    model = _run_model(model_dir)
    codecs = {kind: _checked_codec(kind, path, model.vocabulary)
              for kind, path in (("image", image_codec), ("audio", audio_codec)) if path}
    params, step = checkpoints.restore_params(model_dir, exported.abstract_params(model), step)
    params = jax.tree_util.tree_map(lambda x: np.asarray(jnp.asarray(x, jnp.dtype(dtype))), params)

    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    exported.save_params(partial / exported.PARAMS_DIR, params)
    for kind, codec in codecs.items():
        _copy_codec(Path((image_codec, audio_codec)[kind == "audio"]), partial / "codecs" / kind, codec.step)
    gin_text = next((p.read_text() for p in (model_dir / "operative_config.gin", model_dir / "config.gin")
                     if p.is_file()), "")
    (partial / "operative_config.gin").write_text(gin_text)
    manifest = {
        "format": exported.FORMAT_VERSION,
        "transformer": dataclasses.asdict(model.module.config),
        "vocabulary": dataclasses.asdict(model.vocabulary.config),
        "model": {"label_smoothing": model.label_smoothing, "z_loss": model.z_loss, "num_tasks": model.num_tasks},
        "params_dtype": dtype,
        "sampling": exported.default_sampling(),
        "codecs": {kind: {"path": f"codecs/{kind}", "fingerprint": codec_fingerprint(codec)}
                   for kind, codec in codecs.items()},
        "source": {"model_dir": str(model_dir.resolve()), "step": int(step)},
    }
    (partial / exported.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    exported.write_marker(partial)  # last: the export is complete
    if output.exists():
        shutil.rmtree(output)
    os.replace(partial, output)
    return output


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mt_music.export",
        description="Export a training run (parameters only, configuration as JSON, its codecs) into a folder "
                    "that `python -m mt_music.decode --model` loads without TensorFlow, SeqIO or gin.")
    parser.add_argument("model_dir", help="the run's MODEL_DIR (with config.gin and checkpoints/)")
    parser.add_argument("-o", "--output", required=True, help="the export folder to write (must not exist)")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                        help="parameter dtype of the export (default float32)")
    for kind, path in CODEC_DEFAULTS.items():
        parser.add_argument(f"--{kind}-codec", default=path,
                            help=f"the {kind} codec the run's tokens were baked with (default {path}; '' for none)")
    parser.add_argument("--force", action="store_true", help="replace an existing export folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    folder = export(args.model_dir, args.output, step=args.step, dtype=args.dtype,
                    image_codec=args.image_codec or None, audio_codec=args.audio_codec or None, force=args.force)
    manifest = json.loads((folder / exported.MANIFEST).read_text())
    print(f"exported step {manifest['source']['step']} of {args.model_dir} to {folder} "
          f"({exported.parameter_count(folder):,} parameters, {args.dtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
