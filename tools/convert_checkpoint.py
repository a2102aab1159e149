r"""Converts a training run's checkpoints between unrolled and scanned layers (network.TransformerConfig.scan_layers).

    python tools/convert_checkpoint.py --to scanned runs/base runs/base_scanned
    python -m mt_music.train --gin_file=... --gin.MODEL_DIR="'runs/base_scanned'" \
        --gin.network.TransformerConfig.scan_layers=True

Every step of SOURCE_MODEL_DIR/checkpoints (or only `--step`) is read whole — params, AdamW moments,
fp32 master weights, step, rng — restacked (`mt_music.model.layer_stacks`) and written to
OUT_MODEL_DIR/checkpoints, sealed with checksums like any checkpoint, so the run resumes exactly where
it stopped in the other layout. The run's other files (config.gin, metrics, schedule) are copied.
Evaluation and export need no conversion: they restack parameters on restore. No TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from mt_music.errors import ArgumentParser, UserError, check_output_dir, main_with_errors


def convert_run(source: str, out: str, scanned: bool, steps: list[int] | None = None, progress: bool = True) -> list[int]:
    """Converts the steps of `source`'s checkpoints into `out`; returns the steps written."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp
    from tqdm import tqdm

    from mt_music.model import layer_stacks
    from mt_music.training import checkpoints

    reader = checkpoints.Checkpointer(os.path.join(source, "checkpoints"), async_save=False, keep=None)
    writer = checkpoints.Checkpointer(os.path.join(out, "checkpoints"), async_save=False, keep=None)
    try:
        available = reader.all_steps()
        steps = available if steps is None else steps
        if not available or any(step not in available for step in steps):
            raise UserError(f"SOURCE: no checkpoint of step(s) {steps or 'any'} in {source}/checkpoints "
                            f"(steps there: {available or 'none'})")
        for step in tqdm(steps, desc="convert", unit="step", disable=not progress):
            problem = reader.verify(step)
            if problem:
                raise UserError(f"SOURCE: step {step} in {source} is damaged ({problem}); give another --step")
            state = reader.manager.restore(step, args=ocp.args.Composite(**{
                checkpoints.STATE: ocp.args.StandardRestore()}))[checkpoints.STATE]  # nested dicts and lists
            if layer_stacks.is_scanned(state) is None:
                raise UserError(f"SOURCE: step {step} in {source} holds no encoder/decoder layers to convert")
            converted = jax.tree.map(np.asarray, layer_stacks.to_layout(state, scanned))
            writer.save(converted, step, force=True)
    finally:
        reader.close()
        writer.close()
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE_MODEL_DIR", help="a run's MODEL_DIR (holds checkpoints/)")
    parser.add_argument("out", metavar="OUT_MODEL_DIR", help="a new MODEL_DIR for the converted run")
    parser.add_argument("--to", required=True, choices=("scanned", "unrolled"), help="the layer layout to write")
    parser.add_argument("--step", type=int, action="append", help="convert only this step (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    source, out = os.path.abspath(args.source), os.path.abspath(args.out)
    if not os.path.isdir(os.path.join(source, "checkpoints")):
        raise UserError(f"SOURCE_MODEL_DIR: {source} has no checkpoints/ folder; give a training run's MODEL_DIR")
    if source == out:
        raise UserError("OUT_MODEL_DIR must differ from SOURCE_MODEL_DIR (the source run is kept as it is)")
    if os.path.isdir(os.path.join(out, "checkpoints")) and os.listdir(os.path.join(out, "checkpoints")):
        raise UserError(f"OUT_MODEL_DIR: {out}/checkpoints is not empty; give a new folder")
    check_output_dir(out, "OUT_MODEL_DIR")
    steps = convert_run(source, out, args.to == "scanned", args.step, progress=not args.no_progress)
    for name in sorted(os.listdir(source)):
        path = os.path.join(source, name)
        if name != "checkpoints" and os.path.isfile(path):
            shutil.copy2(path, os.path.join(out, name))
    flag = f"--gin.network.TransformerConfig.scan_layers={args.to == 'scanned'}"
    print(f"converted step(s) {', '.join(map(str, steps))} to {args.to} layers → {out}; resume it with {flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
