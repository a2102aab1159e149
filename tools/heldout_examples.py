#!/usr/bin/env python
"""Writes held-out corpus systems as the files a user would bring: page image, audio, MIDI and LMX.

    python tools/heldout_examples.py --out data/heldout              # 1 system of the small test split
    python tools/heldout_examples.py --config small --split validation --count 3 --out DIR

Per system <id>: <id>.png (the engraved system), <id>.flac (its FluidSynth performance), <id>.mid
(its notes) and <id>.lmx (its LMX): the inputs of every direction of `python -m mt_music.decode all`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mt_music.errors import ArgumentParser, check_output_dir, check_positive, main_with_errors


def write_examples(config: str, split: str, count: int, out: Path) -> list[Path]:
    import numpy as np
    from PIL import Image

    from mt_music.audio.io import write_audio
    from mt_music.data import token_bake
    from mt_music.lmx.files import write_lmx_file
    from mt_music.midi.notes import Note, write_midi_notes

    written = []
    for number, (example_id, image, waveform, fields) in enumerate(token_bake.corpus_examples(config, split, None)):
        if number == count:
            break
        stem = out / re.sub(r"[^A-Za-z0-9_.-]+", "_", example_id)  # names safe in shells and URLs
        Image.fromarray(np.asarray(image, np.uint8)).save(stem.with_suffix(".png"))
        write_audio(stem.with_suffix(".flac"), waveform)
        columns = fields["notes"]
        notes = [Note(float(s), float(e), int(p), int(v), int(g), bool(d)) for s, e, p, v, g, d in
                 zip(*(columns[name] for name in ("start", "end", "pitch", "velocity", "program", "is_drum")))]
        write_midi_notes(notes, stem.with_suffix(".mid"))
        write_lmx_file(stem.with_suffix(".lmx"), fields["lmx"].split())
        written += [stem.with_suffix(suffix) for suffix in (".png", ".flac", ".mid", ".lmx")]
    return written


def main(argv=None) -> int:
    parser = ArgumentParser(prog="tools/heldout_examples.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="small", help="corpus config (default small)")
    parser.add_argument("--split", default="test", help="split (default test: never trained on)")
    parser.add_argument("--count", type=int, default=1, help="systems to write (default 1)")
    parser.add_argument("--out", required=True, help="folder to write them into")
    args = parser.parse_args(argv)
    check_positive(args.count, "--count")
    files = write_examples(args.config, args.split, args.count, check_output_dir(args.out, "--out"))
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
