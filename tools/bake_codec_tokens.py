r"""Bakes codec tokens: runs trained codecs over a dataset and writes token records (TFRecord).

    # the embedded corpus: image + audio codes of every system, LMX and notes passed through
    python tools/bake_codec_tokens.py --image-codec runs/image_codec --audio-codec runs/audio_codec \
        --corpus small --out data/tokens/small
    # any directory of system images (already at 18 px staff height) or of recordings
    python tools/bake_codec_tokens.py --image-codec runs/image_codec --images-dir /data/systems --out data/tokens/x
    python tools/bake_codec_tokens.py --audio-codec runs/audio_codec --audio-dir /data/recordings --out data/tokens/y

Every example is baked with all shift variants (the model's data augmentation):
the 8×4 one-pixel image shifts and the 9 audio offsets −20, −15, …, +20 samples;
`--no-shifts` bakes only the unshifted codes. Output: `<out>/<split>/tokens-NNNNN.tfrecord`
(`mt_music.codecs.token_records` documents and reads the format) and `<out>/bake.json`.
Resumable: each shard of `--examples-per-shard` source examples is written atomically
and skipped when a re-run finds it. `tools/decode_codec_tokens.py` turns records back
into PNG / WAV.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import sys
import time

import numpy as np
from tqdm import tqdm

from mt_music import score_image
from mt_music.codecs import data as codec_data
from mt_music.codecs import tokens

AUDIO_SHIFTS = tuple(range(-20, 21, 5))


def shift_audio(waveform: np.ndarray, offset: int) -> np.ndarray:
    """The waveform delayed by `offset` samples (a negative offset drops its first samples)."""
    return np.concatenate([np.zeros(offset, np.float32), waveform]) if offset >= 0 else waveform[-offset:]


# ------------------------------------------------------------------ sources


def corpus_examples(config: str, split: str, data_dir: str | None):
    """(id, image uint8 [H, W] | None, waveform | None, passthrough dict) per corpus system."""
    from mt_music.corpus import tfds_builder

    for example in codec_data.corpus_examples(config, split, data_dir, None):
        example_id = example["id"].decode()
        notes = {field: np.asarray(example["notes"][field]) for field in example["notes"]}
        yield (example_id, example["image"][..., 0], tfds_builder.decode_audio(example["audio_flac"]),
               {"lmx": example["lmx"].decode(), "notes": notes, "metadata": example["metadata"].decode()})


def corpus_size(config: str, split: str, data_dir: str | None) -> int:
    from mt_music.corpus import build, tfds_builder

    builder = tfds_builder.builder(config, data_dir or str(build.default_data_dir()))
    return builder.info.splits[split].num_examples


def directory_files(images_dir: str | None, audio_dir: str | None) -> list[tuple[str, pathlib.Path, str]]:
    """(kind, file, its directory) for every image / audio file to bake, listed once."""
    files = []
    if images_dir:
        files += [("image", path, images_dir) for path in codec_data.list_files(images_dir, codec_data.IMAGE_SUFFIXES)]
    if audio_dir:
        files += [("audio", path, audio_dir) for path in codec_data.list_files(audio_dir, codec_data.AUDIO_SUFFIXES)]
    return files


def directory_examples(files: list[tuple[str, pathlib.Path, str]]):
    """(relative path, image | None, waveform | None, {}) per file; unreadable files are skipped with a note."""
    from mt_music import audio

    for kind, path, root in files:
        name = str(path.relative_to(root))
        try:
            if kind == "image":
                gray = score_image.whiten_background(score_image.load_grayscale(path))
                yield name, np.round(gray).astype(np.uint8), None, {}
            else:
                yield name, None, audio.load_audio(path), {}
        except (OSError, ValueError, audio.AudioError) as error:
            tqdm.write(f"skipping {path}: {error}")


# ------------------------------------------------------------------ baking


class Baker:
    """Encodes examples with every shift variant and serializes them (token_records format)."""

    def __init__(self, image_codec: tokens.TrainedCodec | None, audio_codec: tokens.TrainedCodec | None,
                 shifts: bool = True):
        self.image_codec, self.audio_codec = image_codec, audio_codec
        self.image_shifts = score_image.shift_augmentations() if shifts else [(0, 0)]
        self.audio_shifts = AUDIO_SHIFTS if shifts else (0,)

    def image_codes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """([S, rows, cols, K] codes, [S, 2] grid shapes). Each variant is encoded at its own ×16 size
        (a shift can add a row or column); smaller grids are filled with token_records.PAD_CODE."""
        from mt_music.codecs import token_records

        content = score_image.to_model_range(image.astype(np.float32))
        variants = [score_image.shifted_padded_image(content, dx, dy) for dx, dy in self.image_shifts]
        codes = self.image_codec.encode_images(variants)
        grids = np.asarray([c.shape[:2] for c in codes], np.int64)
        stacked = np.full((len(codes), *grids.max(axis=0), codes[0].shape[-1]), token_records.PAD_CODE, np.int64)
        for i, c in enumerate(codes):
            stacked[i, : c.shape[0], : c.shape[1]] = c
        return stacked, grids

    def audio_codes(self, waveform: np.ndarray) -> np.ndarray:
        """[S, frames, K]; all variants cut or padded to the unshifted length."""
        variants = [shift_audio(waveform, offset)[: len(waveform)] for offset in self.audio_shifts]
        variants = [np.pad(v, (0, len(waveform) - len(v))) for v in variants]
        return np.stack(self.audio_codec.encode_audios(variants))

    def record(self, example_id: str, image, waveform, passthrough: dict) -> bytes:
        from mt_music.codecs import token_records

        kwargs = dict(passthrough)
        if self.image_codec is not None and image is not None:
            codes, grids = self.image_codes(image)
            kwargs.update(image_codes=codes, image_grids=grids, image_shifts=self.image_shifts)
        if self.audio_codec is not None and waveform is not None:
            kwargs.update(audio_codes=self.audio_codes(waveform), audio_shifts=self.audio_shifts)
        return token_records.serialize(example_id, **kwargs)


def bake_split(baker: Baker, examples, total: int, out_dir: pathlib.Path, examples_per_shard: int,
               progress: bool, description: str) -> dict:
    """Writes shards of `examples_per_shard` records; existing shards are skipped (resume)."""
    import tensorflow as tf

    from mt_music.codecs import token_records

    out_dir.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    bar = tqdm(total=total, desc=description, unit="ex", disable=not progress)
    for index in itertools.count():
        chunk = list(itertools.islice(examples, examples_per_shard))
        if not chunk:
            break
        path = out_dir / token_records.FILE_PATTERN.format(index=index)
        if path.exists():
            skipped += len(chunk)
        else:
            tmp = path.with_suffix(".tmp")
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                for example in chunk:
                    writer.write(baker.record(*example))
                    bar.update(1)
            os.replace(tmp, path)
            written += len(chunk)
            continue
        bar.update(len(chunk))
    bar.close()
    return {"examples_written": written, "examples_skipped_existing": skipped}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-codec", help="run directory of a trained image codec (codec.json + checkpoints)")
    parser.add_argument("--audio-codec", help="run directory of a trained audio codec")
    parser.add_argument("--image-codec-step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--audio-codec-step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--corpus", help="mt_music_corpus config to bake (tiny, small, full, …)")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"], help="corpus splits")
    parser.add_argument("--data-dir", help="corpus data dir (default: $MT_MUSIC_DATA_DIR or ~/.cache/mt_music/datasets)")
    parser.add_argument("--images-dir", help="a directory of system images (18 px staff height) instead of the corpus")
    parser.add_argument("--audio-dir", help="a directory of recordings instead of the corpus")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-shifts", action="store_true", help="bake only the unshifted codes")
    parser.add_argument("--examples-per-shard", type=int, default=64, help="records per output file (default 64)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not (args.image_codec or args.audio_codec):
        parser.error("give --image-codec and/or --audio-codec")
    if bool(args.corpus) == bool(args.images_dir or args.audio_dir):
        parser.error("give either --corpus or --images-dir/--audio-dir")
    if args.images_dir and not args.image_codec:
        parser.error("--images-dir needs --image-codec")
    if args.audio_dir and not args.audio_codec:
        parser.error("--audio-dir needs --audio-codec")
    if args.examples_per_shard < 1:
        parser.error("--examples-per-shard must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        image_codec = tokens.load_codec(args.image_codec, args.image_codec_step) if args.image_codec else None
        audio_codec = tokens.load_codec(args.audio_codec, args.audio_codec_step) if args.audio_codec else None
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for codec, kind in ((image_codec, "image"), (audio_codec, "audio")):
        if codec is not None and codec.kind != kind:
            print(f"error: --{kind}-codec points at an {codec.kind} codec", file=sys.stderr)
            return 2
    baker = Baker(image_codec, audio_codec, shifts=not args.no_shifts)
    out = pathlib.Path(args.out)
    started = time.perf_counter()
    summary = {"image_codec": args.image_codec, "image_codec_step": image_codec and image_codec.step,
               "audio_codec": args.audio_codec, "audio_codec_step": audio_codec and audio_codec.step,
               "image_shifts": baker.image_shifts if image_codec else [],
               "audio_shifts": list(baker.audio_shifts) if audio_codec else [], "splits": {}}
    try:
        if args.corpus:
            summary["corpus"] = args.corpus
            for split in args.splits:
                total = corpus_size(args.corpus, split, args.data_dir)
                examples = corpus_examples(args.corpus, split, args.data_dir)
                summary["splits"][split] = bake_split(baker, examples, total, out / split, args.examples_per_shard,
                                                      not args.no_progress, f"bake {split}")
        else:
            files = directory_files(args.images_dir, args.audio_dir)
            summary["splits"]["all"] = bake_split(baker, directory_examples(files), len(files), out / "all", args.examples_per_shard,
                                                  not args.no_progress, "bake")
    except codec_data.DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "bake.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["splits"]), f"in {summary['seconds']} s → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
