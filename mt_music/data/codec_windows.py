"""Codec training data: random crops of score images and random clips of audio.

Codecs learn local structure (16×16 px patches, 512-sample hops), so they train on
small windows cut at random from whole systems / recordings held in memory. A
window is a pure function of (seed, step, global example index) — the contract of
`mt_music.train`'s data sources — so a batch does not depend on the number of
hosts, and a resumed run sees the batches an uninterrupted one would.

Sources: the embedded corpus (`corpus_images` / `corpus_audio`, TFDS; TensorFlow is
imported only there), any directory of image / audio files (`directory_images` /
`directory_audio`), or a NumPy export of either (`load_images` / `load_audio`: what an
accelerator host without TensorFlow trains from).
"""

from __future__ import annotations

import os
import pathlib
import zipfile
from collections.abc import Iterator, Sequence

import numpy as np
from absl import logging

from mt_music import audio as audio_lib
from mt_music.data.indexed_source import IndexedSource
from mt_music.errors import UserError
from mt_music.image import grids, pixels, preprocessing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".opus", ".webm")


class DataError(UserError, ValueError):
    """No usable data where it was looked for; the message says where and why."""


# ------------------------------------------------------------------ loading


def corpus_images(config: str = "small", split: str = "train", data_dir: str | None = None,
                  limit: int | None = None) -> list[np.ndarray]:
    """System images (uint8 [H, W], 18 px staff height) of the embedded corpus (TFDS)."""
    return [example["image"][..., 0] for example in corpus_examples(config, split, data_dir, limit)]


def corpus_audio(config: str = "small", split: str = "train", data_dir: str | None = None,
                 limit: int | None = None) -> list[np.ndarray]:
    """System performances (float32 mono, 44.1 kHz) of the embedded corpus (TFDS)."""
    from mt_music.corpus import tfds_builder

    return [tfds_builder.decode_audio(example["audio_flac"])
            for example in corpus_examples(config, split, data_dir, limit)]


def corpus_examples(config: str, split: str, data_dir: str | None = None, limit: int | None = None) -> Iterator[dict]:
    """The corpus's system examples (numpy dicts, TFDS order), or a published dataset's for a `name/config`
    (`mt_music.datasets`: olimpic/synthetic, maestro/v3, …; a split it does not ship has no examples);
    clear DataErrors for unknown/unbuilt configs."""
    builder = record_builder(config, data_dir)
    if split.split("[")[0] not in builder.info.splits:  # "train[0:64]": a slice of a split
        if _is_dataset(config) and split in ("train", "validation", "test"):
            return
        raise DataError(f"unknown split {split!r}; {config} has {', '.join(builder.info.splits)}")
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    if limit:
        dataset = dataset.take(limit)
    yield from dataset.as_numpy_iterator()


def record_size(config: str, split: str, data_dir: str | None = None) -> int:
    """Examples in a split of the corpus config or dataset (0 for a split a dataset does not ship)."""
    splits = record_builder(config, data_dir).info.splits
    return splits[split].num_examples if split in splits else 0


def _is_dataset(config: str) -> bool:
    from mt_music.datasets import registry

    return registry.is_dataset_spec(config)


def record_builder(config: str, data_dir: str | None = None):
    """The prepared TFDS builder of a corpus config or of a dataset's `name/config` (imports TensorFlow)."""
    from mt_music.corpus import build

    data_dir = data_dir or str(build.default_data_dir())
    if _is_dataset(config):
        from mt_music.datasets import builders

        return builders.prepared_builder(config, data_dir)
    from mt_music.corpus import tfds_builder  # imports TensorFlow

    try:
        return tfds_builder.prepared_builder(config, data_dir)
    except UserError as error:  # what to build, as this module's error
        raise DataError(str(error)) from None


def list_files(directory: str | os.PathLike, suffixes: tuple[str, ...], limit: int | None = None) -> list[pathlib.Path]:
    """Files under `directory` (recursively, sorted) ending in one of `suffixes`; DataError when none."""
    root = pathlib.Path(directory)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise DataError(f"{root}: no files ending in {', '.join(suffixes)}")
    return files[:limit] if limit else files


def directory_images(directory: str | os.PathLike, *, preprocess: bool = False,
                     limit: int | None = None) -> list[np.ndarray]:
    """Grayscale images (uint8 [H, W]) of every image file under `directory`.

    `preprocess=True` runs the score preprocessing (staff detection, rescale to an
    18 px staff, whitening) for raw scans/renders; otherwise images are taken as
    already at the codec's scale and only whitened. Unreadable files and, with
    preprocessing, images without a detectable staff are skipped with a warning.
    """
    images, skipped = [], 0
    for path in list_files(directory, IMAGE_SUFFIXES, limit):
        try:
            if preprocess:
                prepared = preprocessing.preprocess_score_image(path)
                height, width = prepared.content_shape
                gray = pixels.from_model_range(prepared.pixels[:height, :width])
            else:
                gray = pixels.whiten_background(pixels.load_grayscale(path))
        except Exception as error:  # noqa: BLE001 — one bad file must not stop a directory
            logging.warning("skipping %s: %s", path, error)
            skipped += 1
            continue
        images.append(np.clip(np.round(gray), 0, 255).astype(np.uint8))
    if not images:
        raise DataError(f"{directory}: none of the images could be used ({skipped} skipped)")
    return images


def directory_audio(directory: str | os.PathLike, *, sample_rate: int = audio_lib.SAMPLE_RATE,
                    limit: int | None = None) -> list[np.ndarray]:
    """Mono float32 waveforms at `sample_rate` of every audio file under `directory` (bad files skipped)."""
    waveforms, skipped = [], 0
    for path in list_files(directory, AUDIO_SUFFIXES, limit):
        try:
            waveforms.append(audio_lib.load_audio(path, sample_rate))
        except audio_lib.AudioError as error:
            logging.warning("skipping %s", error)
            skipped += 1
    if not waveforms:
        raise DataError(f"{directory}: none of the audio files could be used ({skipped} skipped)")
    return waveforms


def save_arrays(path: str | os.PathLike, *, images: Sequence[np.ndarray] = (),
                waveforms: Sequence[np.ndarray] = ()) -> None:
    """Packs images (uint8 [H, W]) and/or waveforms (float32) into one .npz (`load_images` / `load_audio`).

    For accelerator hosts without TensorFlow (or music libraries): export the corpus
    once on a CPU host (`tools/export_codec_data.py`), train from the file there.
    """
    arrays = {}
    if len(images):
        arrays["image_pixels"] = np.concatenate([np.asarray(i, np.uint8).ravel() for i in images])
        arrays["image_shapes"] = np.asarray([np.shape(i) for i in images], np.int64)
    if len(waveforms):
        arrays["audio_samples"] = np.concatenate([np.asarray(w, np.float32) for w in waveforms])
        arrays["audio_lengths"] = np.asarray([len(w) for w in waveforms], np.int64)
    if not arrays:
        raise DataError("nothing to save: give images and/or waveforms")
    np.savez(path, **arrays)


def _load_npz(path: str | os.PathLike, key: str) -> np.lib.npyio.NpzFile:
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (export one with tools/export_codec_data.py)")
    try:
        arrays = np.load(path)
        if not hasattr(arrays, "files"):
            raise ValueError("a single array, not an .npz archive")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz of arrays ({error}); export one with "
                        "tools/export_codec_data.py") from error
    if key not in arrays:
        raise DataError(f"{path} holds no {key.split('_')[0]} data (it has {', '.join(sorted(arrays.files))})")
    return arrays


def load_images(path: str | os.PathLike) -> list[np.ndarray]:
    """The images of a `save_arrays` file."""
    arrays = _load_npz(path, "image_pixels")
    sizes = np.prod(arrays["image_shapes"], axis=1)
    flat = np.split(arrays["image_pixels"], np.cumsum(sizes)[:-1])
    return [pixels.reshape(shape) for pixels, shape in zip(flat, arrays["image_shapes"])]


def load_audio(path: str | os.PathLike) -> list[np.ndarray]:
    """The waveforms of a `save_arrays` file."""
    arrays = _load_npz(path, "audio_samples")
    return np.split(arrays["audio_samples"], np.cumsum(arrays["audio_lengths"])[:-1])


# ------------------------------------------------------------------ windows


class ImageCrops(IndexedSource):
    """Random crop_height × crop_width crops (white-padded when an image is smaller) in [-1, 1].

    Of `tries` random offsets the crop with the most ink is kept: system images
    have wide white margins, and an all-white crop teaches a codec nothing.
    """

    feature = "images"

    def __init__(self, images: Sequence[np.ndarray], crop_height: int = 128, crop_width: int = 256,
                 seed: int = 0, tries: int = 2):
        if not len(images):
            raise DataError("ImageCrops got no images")
        if crop_height % grids.PATCH_SIZE or crop_width % grids.PATCH_SIZE:
            raise DataError(f"codec_windows.ImageCrops: crop {crop_height}×{crop_width} must be multiples of "
                            f"{grids.PATCH_SIZE} px (the image token size)")
        self.images = [np.asarray(image, np.uint8) for image in images]
        self.crop_height, self.crop_width = crop_height, crop_width
        self.seed, self.tries = seed, max(1, tries)
        logging.info("image crops from %d images (%.1f Mpx)", len(self.images),
                     sum(i.size for i in self.images) / 1e6)

    def example(self, step: int, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, index])
        image = self.images[int(rng.integers(len(self.images)))]
        best, best_ink = None, -1.0
        for _ in range(self.tries):
            crop = self._crop(image, rng)
            ink = float(np.mean(crop < 128))
            if ink > best_ink:
                best, best_ink = crop, ink
        return {self.feature: pixels.to_model_range(best.astype(np.float32))[..., None]}

    def _crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape
        canvas = np.full((max(h, self.crop_height), max(w, self.crop_width)), 255, np.uint8)
        canvas[:h, :w] = image
        top = int(rng.integers(canvas.shape[0] - self.crop_height + 1))
        left = int(rng.integers(canvas.shape[1] - self.crop_width + 1))
        return canvas[top: top + self.crop_height, left: left + self.crop_width]


class AudioClips(IndexedSource):
    """Random clips of `clip_samples` samples ([T, 1] float32); shorter recordings are zero-padded.

    Of `tries` random offsets the loudest clip is kept (recordings end in silence,
    and silent clips teach a codec nothing).
    """

    feature = "audio"

    def __init__(self, waveforms: Sequence[np.ndarray], clip_samples: int = 16384, seed: int = 0, tries: int = 2):
        if not len(waveforms):
            raise DataError("AudioClips got no audio")
        self.waveforms = [np.asarray(w, np.float32) for w in waveforms]
        self.clip_samples = clip_samples
        self.seed, self.tries = seed, max(1, tries)
        logging.info("audio clips from %d recordings (%.1f min)", len(self.waveforms),
                     sum(len(w) for w in self.waveforms) / audio_lib.SAMPLE_RATE / 60)

    def example(self, step: int, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, index])
        waveform = self.waveforms[int(rng.integers(len(self.waveforms)))]
        if len(waveform) < self.clip_samples:
            waveform = np.pad(waveform, (0, self.clip_samples - len(waveform)))
        best, best_energy = None, -1.0
        for _ in range(self.tries):
            start = int(rng.integers(len(waveform) - self.clip_samples + 1))
            clip = waveform[start: start + self.clip_samples]
            energy = float(np.mean(np.square(clip)))
            if energy > best_energy:
                best, best_energy = clip, energy
        return {self.feature: best[:, None]}
