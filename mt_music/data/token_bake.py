"""Bakes codec tokens: trained codecs over a corpus or a folder → token records (TFRecord), resumable per shard.

Every example is encoded with all shift variants (the 8×4 one-pixel image shifts, the 9 audio
offsets −20…+20 samples) or the first N of them, plus optional degraded image copies (rotation,
ink, noise, contrast: `mt_music.image.degradations`, drawn from the example's id, each at a drawn
shift) that tasks use as inputs only; `tools/bake_codec_tokens.py` is the command line. Corpus
piece configs (`small_pieces`) bake the whole performance's audio, for the AMT windows.

Each shard `tokens-NNNNN.tfrecord` has a sidecar `tokens-NNNNN.tfrecord.codec.json` naming the
codecs that made it (path, step, a fingerprint of their parameters). A resumed bake skips a shard
only when its codecs are the same; a bake with other codecs into the same `--out` stops before it
writes anything (or, asked to, bakes every shard again), so records never mix two codecs' codes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pathlib

import numpy as np
from tqdm import tqdm

from mt_music.codecs import tokenizer
from mt_music.data import codec_windows as codec_data
from mt_music.errors import UserError
from mt_music.image import degradations, pixels, preprocessing

AUDIO_SHIFTS = tuple(range(-20, 21, 5))
CODEC_SIDECAR = ".codec.json"
SILENCE_PEAK = 1e-4  # a recording whose peak is below this (−80 dBFS) holds nothing to encode


def image_shift_order() -> list[tuple[int, int]]:
    """The 32 image shifts ordered so that every prefix is spread over both axes: (0, 0), (2, 1), (4, 2), …"""
    dy_count = preprocessing.SHIFTS_Y
    return [((j // dy_count + 2 * (j % dy_count)) % preprocessing.SHIFTS_X, j % dy_count)
            for j in range(preprocessing.SHIFTS_X * dy_count)]


AUDIO_SHIFT_ORDER = (0, -20, 20, -10, 10, -15, 15, -5, 5)  # every prefix spread over −20…+20


def first_variants(ordered, count: int | None) -> list:
    """The first `count` of an ordered variant list (None: all): the unshifted one always comes first."""
    if count is not None and count < 1:
        raise ValueError(f"variant count must be at least 1, got {count}")
    return list(ordered)[:count]


def codec_fingerprint(codec: tokenizer.TrainedCodec) -> str:
    """SHA-256 over the codec's spec and every parameter array (names, shapes, dtypes, bytes)."""
    import jax

    digest = hashlib.sha256(json.dumps(codec.spec, sort_keys=True).encode())
    for path, leaf in jax.tree_util.tree_flatten_with_path(codec.variables)[0]:
        array = np.asarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)}{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def codec_identity(codec: tokenizer.TrainedCodec | None, path: str | None) -> dict | None:
    """What a shard records about one of its codecs."""
    if codec is None:
        return None
    return {"path": os.path.abspath(path) if path else None, "step": codec.step,
            "fingerprint": codec_fingerprint(codec)}


def check_existing_shards(out: pathlib.Path, codecs: dict) -> list[pathlib.Path]:
    """The shards under `out` that other codecs (or unrecorded ones) made; empty when a resume may skip them."""
    from mt_music.data import token_records

    pattern = token_records.FILE_PATTERN.format(index=0).replace("00000", "*")
    return [shard for shard in sorted(out.glob(f"*/{pattern}")) if _shard_codecs(shard) != _comparable(codecs)]


def _shard_codecs(shard: pathlib.Path) -> dict | None:
    try:
        return _comparable(json.loads(pathlib.Path(str(shard) + CODEC_SIDECAR).read_text()))
    except (OSError, ValueError):
        return None


def _comparable(codecs: dict) -> dict:
    """Codec records compared by fingerprint only (the same weights under another path bake the same codes)."""
    return {kind: (record or {}).get("fingerprint") for kind, record in sorted(codecs.items())}


def shift_audio(waveform: np.ndarray, offset: int) -> np.ndarray:
    """The waveform delayed by `offset` samples (a negative offset drops its first samples)."""
    return np.concatenate([np.zeros(offset, np.float32), waveform]) if offset >= 0 else waveform[-offset:]


# ------------------------------------------------------------------ sources


def corpus_examples(config: str, split: str, data_dir: str | None):
    """(id, image uint8 [H, W] | None, waveform | None, passthrough dict) per corpus system, or per
    piece for a `*_pieces` config (no image; the whole piece's audio, LMX and notes); the same for a
    published dataset's `name/config` (records without audio give None)."""
    from mt_music.corpus import tfds_builder

    for example in codec_data.corpus_examples(config, split, data_dir, None):
        example_id = example["id"].decode()
        notes = {field: np.asarray(example["notes"][field]) for field in example["notes"]}
        image = example["image"][..., 0] if "image" in example else None
        waveform = tfds_builder.decode_audio(example["audio_flac"]) if len(example["audio_flac"]) else None
        yield (example_id, image, waveform,
               {"lmx": example["lmx"].decode(), "notes": notes, "metadata": example["metadata"].decode()})


def corpus_size(config: str, split: str, data_dir: str | None) -> int:
    return codec_data.record_size(config, split, data_dir)


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
                gray = pixels.whiten_background(pixels.load_grayscale(path))
                yield name, np.round(gray).astype(np.uint8), None, {}
            else:
                waveform = audio.load_audio(path)
                if waveform.size == 0 or float(np.max(np.abs(waveform))) < SILENCE_PEAK:
                    tqdm.write(f"skipping {path}: silent (peak below −80 dBFS)")
                    continue
                yield name, None, waveform, {}
        except (OSError, ValueError, audio.AudioError) as error:
            tqdm.write(f"skipping {path}: {error}")


# ------------------------------------------------------------------ baking


class Baker:
    """Encodes examples with every shift variant and serializes them (token_records format)."""

    def __init__(self, image_codec: tokenizer.TrainedCodec | None, audio_codec: tokenizer.TrainedCodec | None,
                 shifts: bool = True, image_variants: int | None = None, audio_variants: int | None = None,
                 degraded_variants: int = 0):
        if degraded_variants < 0:
            raise ValueError(f"degraded_variants must be ≥ 0, got {degraded_variants}")
        self.image_codec, self.audio_codec = image_codec, audio_codec
        self.image_shifts = (sorted(first_variants(image_shift_order(), image_variants), key=lambda s: s[::-1])
                             if shifts else [(0, 0)])
        self.audio_shifts = tuple(sorted(first_variants(AUDIO_SHIFT_ORDER, audio_variants))) if shifts else (0,)
        self.degraded_variants = degraded_variants

    def degraded_images(self, example_id: str, image: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
        """(degraded image, its shift) copies, drawn from the id: the same example bakes the same copies."""
        shifts = image_shift_order()
        copies = []
        for copy in range(self.degraded_variants):
            seed = int.from_bytes(hashlib.sha256(f"{example_id}/degraded/{copy}".encode()).digest()[:8], "little")
            rng = np.random.default_rng(seed)
            degraded, _ = degradations.degrade(image, rng)
            # what decoding does to a user's page (pixels.whiten_background) comes after the scanner
            copies.append((np.round(pixels.whiten_background(degraded)), shifts[int(rng.integers(len(shifts)))]))
        return copies

    def image_codes(self, image: np.ndarray, example_id: str = "") -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
        """([S, rows, cols, K] codes, [S, 2] grid shapes, [S] (dx, dy) shifts, [S] degraded flags): the clean
        shift variants, then the degraded copies. Each variant is encoded at its own ×16 size (a shift can
        add a row or column); smaller grids are filled with token_records.PAD_CODE."""
        from mt_music.data import token_records

        sources = [(image, shift) for shift in self.image_shifts] + self.degraded_images(example_id, image)
        variants = [preprocessing.shifted_padded_image(pixels.to_model_range(np.asarray(picture, np.float32)), dx, dy)
                    for picture, (dx, dy) in sources]
        codes = self.image_codec.encode_images(variants)
        grids = np.asarray([c.shape[:2] for c in codes], np.int64)
        stacked = np.full((len(codes), *grids.max(axis=0), codes[0].shape[-1]), token_records.PAD_CODE, np.int64)
        for i, c in enumerate(codes):
            stacked[i, : c.shape[0], : c.shape[1]] = c
        degraded = np.asarray([0] * len(self.image_shifts) + [1] * self.degraded_variants, np.int64)
        return stacked, grids, [shift for _, shift in sources], degraded

    def audio_codes(self, waveform: np.ndarray) -> np.ndarray:
        """[S, frames, K]; all variants cut or padded to the unshifted length."""
        variants = [shift_audio(waveform, offset)[: len(waveform)] for offset in self.audio_shifts]
        variants = [np.pad(v, (0, len(waveform) - len(v))) for v in variants]
        return np.stack(self.audio_codec.encode_audios(variants))

    def record(self, example_id: str, image, waveform, passthrough: dict) -> bytes:
        from mt_music.data import token_records

        kwargs = dict(passthrough)
        if self.image_codec is not None and image is not None:
            codes, grids, shifts, degraded = self.image_codes(image, example_id)
            kwargs.update(image_codes=codes, image_grids=grids, image_shifts=shifts, image_degraded=degraded)
        if self.audio_codec is not None and waveform is not None:
            kwargs.update(audio_codes=self.audio_codes(waveform), audio_shifts=self.audio_shifts)
        return token_records.serialize(example_id, **kwargs)


def made_by(path: pathlib.Path, codecs: dict) -> bool:
    """Whether the shard at `path` exists and these codecs made it (a resumed bake skips it)."""
    return path.exists() and _shard_codecs(path) == _comparable(codecs)


def write_shard(baker: Baker, examples, path: pathlib.Path, codecs: dict, bar=None) -> int:
    """Writes one shard atomically with its codec sidecar; returns the records written."""
    import tensorflow as tf

    tmp = path.with_suffix(".tmp")
    written = 0
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for example in examples:
            writer.write(baker.record(*example))
            written += 1
            if bar is not None:
                bar.update(1)
    # the old shard goes first and the sidecar comes before the new shard: a bake killed in
    # between leaves no shard with another shard's sidecar
    path.unlink(missing_ok=True)
    sidecar = pathlib.Path(str(path) + CODEC_SIDECAR)
    sidecar.with_suffix(".tmp").write_text(json.dumps(codecs, indent=1))
    os.replace(sidecar.with_suffix(".tmp"), sidecar)
    os.replace(tmp, path)
    return written


def bake_split(baker: Baker, examples, total: int, out_dir: pathlib.Path, examples_per_shard: int,
               progress: bool, description: str, codecs: dict, overwrite: bool = False) -> dict:
    """Writes shards of `examples_per_shard` records with their codec sidecars; shards that the same
    codecs made are skipped (resume), others are baked again when `overwrite`."""
    from mt_music.data import token_records

    out_dir.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    bar = tqdm(total=total, desc=description, unit="ex", disable=not progress)
    for index in itertools.count():
        chunk = list(itertools.islice(examples, examples_per_shard))
        if not chunk:
            break
        path = out_dir / token_records.FILE_PATTERN.format(index=index)
        if made_by(path, codecs):
            skipped += len(chunk)
            bar.update(len(chunk))
        elif path.exists() and not overwrite:
            raise UserError(f"{path} was baked with other codecs; bake into a new --out, or pass --overwrite")
        else:
            written += write_shard(baker, chunk, path, codecs, bar)
    bar.close()
    return {"examples_written": written, "examples_skipped_existing": skipped}
