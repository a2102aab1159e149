#!/usr/bin/env python
"""Decoding speed of an export per direction, on the files a user would bring.

    python tools/benchmark_decode.py --model exports/corpus_cpu --inputs data/heldout
    python tools/benchmark_decode.py --model EXPORT --inputs DIR --directions amt,synthesis --repeats 3

For each direction: the source units of its input file (systems, windows), one warm-up call (jit
compilation), then `--repeats` timed calls of `Translator.decode_units`; prints output frames per
second (frames the decoder produced, EOS-terminated outputs counted to their EOS, over the wall
time) and the seconds per call, then one JSON line with every figure. Sampling is greedy by
default so that runs are comparable (`--temperature` to change). MIDI→audio is timed as batched
windows, like every other direction; in the decoding script one file's windows run one after the
other, each continuing the previous one (a prefix), and window i of up to --batch-size files shares
one batch (`Translator.translate_many`). No TensorFlow.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from mt_music.decode import DIRECTIONS, Translator, input_files, parse_directions
from mt_music.errors import ArgumentParser, UserError, check_positive, main_with_errors
from mt_music.inference.translator import DecodeSettings


def produced_frames(frames: np.ndarray) -> int:
    """Frames up to and including EOS (slot 0 of a frame after EOS is PAD = 0)."""
    return int((np.asarray(frames)[..., 0] != 0).sum())


def benchmark(translator: Translator, direction, path, repeats: int) -> dict:
    units = translator.units(direction, path)
    translator.decode_units(units, direction.target)  # compiles
    seconds, frames = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = translator.decode_units(units, direction.target)
        seconds.append(time.perf_counter() - started)
        frames = sum(produced_frames(f) for f in outputs)
    best = min(seconds)
    return {"direction": direction.name, "units": len(units), "frames": frames, "seconds": round(best, 3),
            "frames_per_second": round(frames / best, 1)}


def main(argv=None) -> int:
    parser = ArgumentParser(prog="tools/benchmark_decode.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an export folder")
    parser.add_argument("--inputs", required=True, help="a folder with one input per source modality")
    parser.add_argument("--directions", default="all", help=f"comma-separated, or all ({', '.join(DIRECTIONS)})")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per direction (the best is kept)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--max-length", type=int, default=None, help="decoder frames per unit")
    parser.add_argument("--window-seconds", type=float, default=10.0, help="audio / MIDI windows")
    args = parser.parse_args(argv)
    check_positive(args.repeats, "--repeats")
    translator = Translator(args.model, DecodeSettings(temperature=args.temperature, max_length=args.max_length,
                                                       window_seconds=args.window_seconds,
                                                       synthesis_window_seconds=args.window_seconds,
                                                       overlap_seconds=0.0))
    rows = []
    for direction in parse_directions(args.directions):
        files = input_files([args.inputs], direction, several=True)
        if not files:
            raise UserError(f"--inputs: {args.inputs} holds no {direction.source.name} file for {direction.name}")
        rows.append(benchmark(translator, direction, files[0], args.repeats))
        row = rows[-1]
        print(f"{row['direction']:12s} {row['units']:3d} units  {row['frames']:6d} frames  {row['seconds']:7.2f} s  "
              f"{row['frames_per_second']:8.1f} frames/s", flush=True)
    print(json.dumps({"model": args.model, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
