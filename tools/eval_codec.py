r"""Evaluates trained codecs on held-out corpus systems (whole systems, not training crops).

    python tools/eval_codec.py --image-codec runs/image_codec --audio-codec runs/audio_codec \
        --corpus small --split test [--limit 50] [--json results.json]

Image codec, per system (encode → decode, compared on the unpadded content):
  pixel MAE (in [-1, 1] units), ink recall (the original's dark pixels still dark:
  staff lines, stems, note heads kept) and ink precision (no invented ink).
Audio codec, per system performance: multi-scale mel distance, SI-SDR (dB), and
  transcribability — onset F1 of basic-pitch on the decoded audio and on the original
  against the score's notes, and their ratio (the goal for a trained codec: ≥ 0.9).
Means over systems are printed (and written with the per-system figures to --json);
--contact-sheet writes the first systems' originals above their reconstructions as one PNG;
--audio-samples DIR writes the first systems' original and decoded WAVs with a piano roll of what
basic-pitch hears on each (score notes grey, its onsets green when matched, red when invented).
Trained (`mt_music.codecs.train`) and fitted (`mt_music.codecs.fit`) codec directories both work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tqdm import tqdm

from mt_music.codecs import evaluation, tokenizer
from mt_music.data import codec_windows as codec_data
from mt_music.errors import (
    ArgumentParser,
    UserError,
    check_output_dir,
    check_output_file,
    check_positive,
    main_with_errors,
)


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-codec", help="directory of a trained or fitted image codec")
    parser.add_argument("--audio-codec", help="directory of a trained or fitted audio codec")
    parser.add_argument("--corpus", default="small", help="mt_music_corpus config (default small)")
    parser.add_argument("--split", default="test", help="held-out split (default test)")
    parser.add_argument("--data-dir", help="corpus data dir (default: $MT_MUSIC_DATA_DIR or ~/.cache/mt_music/datasets)")
    parser.add_argument("--limit", type=int, default=0, help="systems to evaluate (0 = all)")
    parser.add_argument("--no-transcription", action="store_true", help="skip basic-pitch transcribability")
    parser.add_argument("--json", help="write means and per-system figures here")
    parser.add_argument("--contact-sheet", help="PNG of the first --sheet-rows originals, each above its reconstruction")
    parser.add_argument("--audio-samples", help="directory for decoded WAVs and their transcription piano rolls")
    parser.add_argument("--sheet-rows", type=int, default=6,
                        help="systems on the contact sheet / in --audio-samples (default 6)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not (args.image_codec or args.audio_codec):
        parser.error("give --image-codec and/or --audio-codec")
    check_positive(args.limit, "--limit", allow_zero=True)
    if args.json:
        check_output_file(args.json, "--json")
    if args.contact_sheet:
        if not args.image_codec:
            parser.error("--contact-sheet shows image reconstructions: give --image-codec")
        check_output_file(args.contact_sheet, "--contact-sheet")
        check_positive(args.sheet_rows, "--sheet-rows")
    if args.audio_samples:
        if not args.audio_codec or args.no_transcription:
            parser.error("--audio-samples transcribes decoded audio: give --audio-codec, without --no-transcription")
        check_output_dir(args.audio_samples, "--audio-samples")
        check_positive(args.sheet_rows, "--sheet-rows")
    transcribe = bool(args.audio_codec) and not args.no_transcription
    if args.audio_samples and not evaluation.basic_pitch_available():
        raise UserError("--audio-samples needs basic-pitch, which is not installed; install: "
                        f"{evaluation.BASIC_PITCH_INSTALL}")
    if transcribe and not evaluation.basic_pitch_available():
        print(f"note: basic-pitch is not installed ({', '.join(evaluation.missing_basic_pitch_packages())} "
              f"missing): transcribability skipped. Install: {evaluation.BASIC_PITCH_INSTALL}", file=sys.stderr)
        transcribe = False
    try:
        codecs = {kind: tokenizer.load_codec(path) for kind, path in (("image", args.image_codec),
                                                                   ("audio", args.audio_codec)) if path}
        for kind, codec in codecs.items():
            if codec.kind != kind:
                raise ValueError(f"--{kind}-codec points at an {codec.kind} codec")
        from mt_music.corpus import tfds_builder

        tfds_builder.prepared_builder(args.corpus, args.data_dir)
        examples = list(codec_data.corpus_examples(args.corpus, args.split, args.data_dir, args.limit or None))
    except (FileNotFoundError, ValueError, KeyError) as error:  # DataError is a ValueError
        if isinstance(error, UserError):
            raise
        raise UserError(str(error).strip("'\"")) from None
    if not examples:
        raise UserError(f"{args.corpus}/{args.split} has no systems; nothing to evaluate")

    started = time.perf_counter()
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in codecs}
    pairs = []
    for example in tqdm(examples, desc=f"evaluate {args.corpus}/{args.split}", disable=args.no_progress):
        if "image" in codecs:
            original, decoded = evaluation.image_reconstruction(codecs["image"], example["image"][..., 0])
            rows["image"].append(evaluation.image_metrics(original, decoded))
            if args.contact_sheet and len(pairs) < args.sheet_rows:
                pairs.append((original, decoded))
        if "audio" in codecs:
            waveform = tfds_builder.decode_audio(example["audio_flac"])
            notes = tfds_builder.notes_of(example)
            rows["audio"].append(evaluation.audio_round_trip(codecs["audio"], waveform, notes, transcribe))
            if args.audio_samples and len(rows["audio"]) <= args.sheet_rows:
                write_audio_sample(codecs["audio"], waveform, notes, args.audio_samples, len(rows["audio"]))
    results = {kind: {"codec": getattr(args, f"{kind}_codec"), "step": codecs[kind].step, "systems": len(kind_rows),
                      "mean": evaluation.mean_metrics(kind_rows), "per_system": kind_rows} for kind, kind_rows in rows.items()}
    for kind, result in results.items():
        print(f"{kind} codec {result['codec']} (step {result['step']}), {result['systems']} systems "
              f"of {args.corpus}/{args.split}:")
        for name, value in result["mean"].items():
            print(f"  {name:20s} {value:.4f}")
    print(f"({time.perf_counter() - started:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.audio_samples:
        print(f"audio samples: {args.audio_samples} (original / decoded WAV and a transcription roll per system)")
    if args.contact_sheet:
        write_contact_sheet(pairs, args.contact_sheet)
        print(f"contact sheet: {args.contact_sheet} ({len(pairs)} systems, original above reconstruction)")
    return 0


def write_contact_sheet(pairs, path: str) -> None:
    """Originals above their reconstructions, a grey rule between systems, on one white PNG."""
    import numpy as np
    from PIL import Image

    width = max(original.shape[1] for original, _ in pairs)
    blocks = []
    for original, decoded in pairs:
        for image in (original, decoded):
            blocks.append(np.pad(image, ((2, 2), (0, width - image.shape[1])), constant_values=1.0))
        blocks.append(np.zeros((3, width), np.float32))  # black-grey rule: [-1, 1] → 127
    sheet = np.concatenate(blocks[:-1])
    Image.fromarray(np.round((np.clip(sheet, -1, 1) + 1) * 127.5).astype(np.uint8)).save(path)


def write_audio_sample(codec, waveform, notes, directory: str, number: int) -> None:
    """NN_original.wav, NN_decoded.wav and NN_rolls.png (basic-pitch on the original above, on the decoded below)."""
    import pathlib

    from mt_music.audio.io import write_audio
    from mt_music.codecs import listening

    decoded = codec.decode_audio(codec.encode_audio(waveform))[: len(waveform)]
    transcriber = evaluation.default_transcriber()
    reference = [note for note in notes if not note.is_drum]
    rolls = [transcriber(audio, codec.sample_rate) for audio in (waveform, decoded)]
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    write_audio(out / f"{number:02d}_original.wav", waveform, codec.sample_rate)
    write_audio(out / f"{number:02d}_decoded.wav", decoded, codec.sample_rate)
    listening.roll_image(reference, rolls, len(waveform) / codec.sample_rate).save(out / f"{number:02d}_rolls.png")


if __name__ == "__main__":
    sys.exit(main())
