r"""Decodes baked codec tokens back to PNG / WAV (to look at and listen to what the model sees).

    python tools/decode_codec_tokens.py --records "data/tokens/small/validation/*.tfrecord" \
        --image-codec runs/image_codec --audio-codec runs/audio_codec --out /tmp/decoded --limit 4

Writes `<out>/<id>.shift<S>.png` / `.wav` for the first `--limit` records (shift
variant `--shift`, default 0 = unshifted). Model outputs decode the same way with
`mt_music.codecs.tokenizer.codes_to_png` / `codes_to_wav`.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import sys

from tqdm import tqdm

from mt_music.codecs import tokenizer
from mt_music.errors import ArgumentParser, UserError, check_output_dir, check_positive, main_with_errors


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def load_codec(path: str, setting: str):
    """A trained codec; a missing or broken run directory is a UserError naming the flag."""
    try:
        return tokenizer.load_codec(path)
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise UserError(f"{setting}: {error}") from None


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", required=True, help="token record files (a glob pattern, quote it)")
    parser.add_argument("--image-codec", help="run directory of the image codec the tokens were baked with")
    parser.add_argument("--audio-codec", help="run directory of the audio codec the tokens were baked with")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--limit", type=int, default=8, help="records to decode (default 8; 0 = all)")
    parser.add_argument("--shift", type=int, default=0, help="shift variant index (default 0: unshifted)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not (args.image_codec or args.audio_codec):
        parser.error("give --image-codec and/or --audio-codec")
    check_positive(args.limit, "--limit", allow_zero=True)
    check_positive(args.shift, "--shift", allow_zero=True)
    out = check_output_dir(args.out, "--out")

    from mt_music.data import token_records  # TensorFlow

    image_codec = load_codec(args.image_codec, "--image-codec") if args.image_codec else None
    audio_codec = load_codec(args.audio_codec, "--audio-codec") if args.audio_codec else None
    records = token_records.read(args.records)
    try:
        first = _damage_is_user_error(args.records, lambda: next(records, None))
    except FileNotFoundError as error:
        raise UserError(f"--records: {error}; give a glob of .tfrecord files (quote it)") from None
    if first is None:
        raise UserError(f"--records: {args.records} holds no records; nothing to decode")
    written = _damage_is_user_error(args.records, lambda: _write_files(
        itertools.chain([first], records), args, image_codec, audio_codec, out))
    if not written:
        raise UserError(f"nothing decoded from {args.records}: the records hold no codes of the given codec(s)")
    print(f"{written} files → {out}")
    return 0


def _damage_is_user_error(pattern: str, read):
    """`read()`; a damaged record file (TFRecord corruption) becomes a UserError naming the pattern."""
    import tensorflow as tf

    try:
        return read()
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        raise UserError(f"--records: {pattern} is damaged or not token records "
                        f"({' '.join(error.message.split())[:200]})") from None


def _write_files(records, args, image_codec, audio_codec, out: pathlib.Path) -> int:
    from mt_music.data import token_records

    written = 0
    for count, record in enumerate(tqdm(records, desc="decode", unit="rec")):
        if args.limit and count >= args.limit:
            break
        stem = record["id"].replace("/", "_")
        for codec, key, suffix, to_bytes in ((image_codec, "image_codes", "png", tokenizer.codes_to_png),
                                             (audio_codec, "audio_codes", "wav", tokenizer.codes_to_wav)):
            codes = record[key]
            if codec is None or codes.size == 0:
                continue
            if not 0 <= args.shift < codes.shape[0]:
                raise UserError(f"--shift {args.shift} is out of range (the records hold {codes.shape[0]})")
            variant = token_records.image_variant(record, args.shift) if key == "image_codes" else codes[args.shift]
            (out / f"{stem}.shift{args.shift}.{suffix}").write_bytes(to_bytes(codec, variant))
            written += 1
    return written


if __name__ == "__main__":
    sys.exit(main())
