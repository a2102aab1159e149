r"""Decodes baked codec tokens back to PNG / WAV (to look at and listen to what the model sees).

    python tools/decode_codec_tokens.py --records "data/tokens/small/validation/*.tfrecord" \
        --image-codec runs/image_codec --audio-codec runs/audio_codec --out /tmp/decoded --limit 4

Writes `<out>/<id>.shift<S>.png` / `.wav` for the first `--limit` records (shift
variant `--shift`, default 0 = unshifted). Model outputs decode the same way with
`mt_music.codecs.tokenizer.codes_to_png` / `codes_to_wav`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from tqdm import tqdm

from mt_music.codecs import tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
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

    from mt_music.data import token_records  # TensorFlow

    try:
        image_codec = tokenizer.load_codec(args.image_codec) if args.image_codec else None
        audio_codec = tokenizer.load_codec(args.audio_codec) if args.audio_codec else None
        records = token_records.read(args.records)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
                print(f"error: --shift {args.shift} is out of range (the records hold {codes.shape[0]})",
                      file=sys.stderr)
                return 2
            variant = token_records.image_variant(record, args.shift) if key == "image_codes" else codes[args.shift]
            (out / f"{stem}.shift{args.shift}.{suffix}").write_bytes(to_bytes(codec, variant))
            written += 1
    print(f"{written} files → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
