r"""Exports corpus system images and/or performances to one .npz for codec training elsewhere.

    python tools/export_codec_data.py --corpus small --split train --out codec_train.npz
    python tools/export_codec_data.py --corpus full --split validation --audio-only --out codec_val.npz

Accelerator hosts often have no TensorFlow (nor the music libraries); codec training
there reads the file instead of the TFDS corpus:

    python -m mt_music.codecs.train --gin_file=codecs/audio_base.gin --gin.MODEL_DIR="'runs/audio'" \
        --gin.codec_windows.AudioClips.waveforms="@codec_windows.load_audio()" --gin.codec_windows.load_audio.path="'codec_train.npz'" \
        --gin.eval/codec_windows.AudioClips.waveforms="@eval/codec_windows.load_audio()" \
        --gin.eval/codec_windows.load_audio.path="'codec_val.npz'"
"""

from __future__ import annotations

import argparse
import os
import sys

from mt_music.data import codec_windows as codec_data
from mt_music.errors import ArgumentParser, UserError, check_output_file, check_positive, main_with_errors


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="small", help="mt_music_corpus config (default small)")
    parser.add_argument("--split", default="train", help="train, validation or test (default train)")
    parser.add_argument("--data-dir", help="corpus data dir (default: $MT_MUSIC_DATA_DIR or ~/.cache/mt_music/datasets)")
    parser.add_argument("--limit", type=int, default=0, help="systems to export (0 = all)")
    modality = parser.add_mutually_exclusive_group()
    modality.add_argument("--images-only", action="store_true", help="export only the system images")
    modality.add_argument("--audio-only", action="store_true", help="export only the performances")
    parser.add_argument("--out", required=True, help="output .npz file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    check_positive(args.limit, "--limit", allow_zero=True)
    out = args.out if args.out.endswith(".npz") else args.out + ".npz"  # what np.savez writes
    check_output_file(out, "--out")
    source = dict(config=args.corpus, split=args.split, data_dir=args.data_dir, limit=args.limit or None)
    from mt_music.corpus import tfds_builder

    tfds_builder.prepared_builder(args.corpus, args.data_dir)
    try:
        images = [] if args.audio_only else codec_data.corpus_images(**source)
        waveforms = [] if args.images_only else codec_data.corpus_audio(**source)
        if not (len(images) or len(waveforms)):
            raise UserError(f"{args.corpus}/{args.split} has no systems; nothing exported")
        codec_data.save_arrays(out, images=images, waveforms=waveforms)
    except codec_data.DataError as error:
        raise UserError(str(error)) from None
    print(f"{len(images)} images, {len(waveforms)} recordings "
          f"({sum(len(w) for w in waveforms) / 44100 / 60:.1f} min) → {out} "
          f"({os.path.getsize(out) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
