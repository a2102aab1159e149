"""Baked codec tokens on disk: TFRecord files of tf.train.Examples (what the SeqIO tasks read).

One record = one source example (a corpus system, or one file of a directory) with
every shift variant of its codes:

    id              bytes    corpus "<piece>/<variant>/<system>" or the file's relative path
    image_codes     bytes    uint16 [S, rows, cols, K], row-major; S = image shift variants
    image_shape     int64[4] (S, rows, cols, K)
    image_grids     int64    [S, 2] each variant's own (rows, cols): a shift can add a row or a
                             column; the smaller grids are filled with PAD_CODE (65535)
    image_shifts    int64    [S, 2] (dx, dy) flattened — 8×4 one-pixel shifts by default
    image_degraded  int64    [S] 1 for a degraded copy (rotation, ink, noise, contrast: input use
                             only), 0 for a clean variant; empty in bakes without degradations
    audio_codes     bytes    uint16 [S, frames, K]
    audio_shape     int64[3] (S, frames, K)
    audio_shifts    int64    [S] sample offsets (−20..+20: the input delayed by that many samples)
    lmx, metadata   bytes    passed through from the corpus (empty for directories)
    notes/<field>   start/end (float), pitch/velocity/program/is_drum (int): the system's notes

A modality the bake did not run has shape all-zero and empty codes. This is the
data layer: it imports TensorFlow (the model core never imports this module).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from mt_music.data import system_frames

NOTE_FIELDS = {"start": tf.float32, "end": tf.float32, "pitch": tf.int64, "velocity": tf.int64,
               "program": tf.int64, "is_drum": tf.int64}
FILE_PATTERN = "tokens-{index:05d}.tfrecord"
PAD_CODE = system_frames.PAD_CODE  # fills image grids smaller than the record's largest variant


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64).ravel().tolist()))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).ravel().tolist()))


def _codes(codes: np.ndarray | None, ndim: int) -> tuple[bytes, np.ndarray]:
    if codes is None:
        return b"", np.zeros(ndim, np.int64)
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() > np.iinfo(np.uint16).max):
        raise ValueError("codes must fit uint16")
    return codes.astype("<u2").tobytes(), np.asarray(codes.shape, np.int64)


def serialize(example_id: str, *, image_codes: np.ndarray | None = None, image_grids=(), image_shifts=(),
              image_degraded=(), audio_codes: np.ndarray | None = None, audio_shifts=(), lmx: str = "",
              notes: Mapping[str, np.ndarray] | None = None, metadata: Mapping[str, Any] | str = "") -> bytes:
    image_bytes, image_shape = _codes(image_codes, 4)
    audio_bytes, audio_shape = _codes(audio_codes, 3)
    if not isinstance(metadata, str):
        metadata = json.dumps(metadata)
    features = {
        "id": _bytes(example_id.encode()), "lmx": _bytes(lmx.encode()), "metadata": _bytes(metadata.encode()),
        "image_codes": _bytes(image_bytes), "image_shape": _ints(image_shape), "image_shifts": _ints(image_shifts),
        "image_grids": _ints(image_grids), "image_degraded": _ints(image_degraded),
        "audio_codes": _bytes(audio_bytes), "audio_shape": _ints(audio_shape), "audio_shifts": _ints(audio_shifts),
    }
    notes = notes or {}
    for field, dtype in NOTE_FIELDS.items():
        values = notes.get(field, [])
        features[f"notes/{field}"] = _floats(values) if dtype == tf.float32 else _ints(values)
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


FEATURE_SPEC = {
    "id": tf.io.FixedLenFeature([], tf.string), "lmx": tf.io.FixedLenFeature([], tf.string),
    "metadata": tf.io.FixedLenFeature([], tf.string),
    "image_codes": tf.io.FixedLenFeature([], tf.string), "image_shape": tf.io.FixedLenFeature([4], tf.int64),
    "image_shifts": tf.io.VarLenFeature(tf.int64), "image_grids": tf.io.VarLenFeature(tf.int64),
    "image_degraded": tf.io.VarLenFeature(tf.int64),
    "audio_codes": tf.io.FixedLenFeature([], tf.string), "audio_shape": tf.io.FixedLenFeature([3], tf.int64),
    "audio_shifts": tf.io.VarLenFeature(tf.int64),
    **{f"notes/{field}": tf.io.VarLenFeature(dtype) for field, dtype in NOTE_FIELDS.items()},
}


def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """One serialized record → tensors; codes as int32 [S, rows, cols, K] / [S, frames, K] (tf.data-friendly)."""
    parsed = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    out = {name: tf.sparse.to_dense(value) if isinstance(value, tf.sparse.SparseTensor) else value
           for name, value in parsed.items()}
    for modality in ("image", "audio"):
        raw = tf.io.decode_raw(out[f"{modality}_codes"], tf.uint16, little_endian=True)
        out[f"{modality}_codes"] = tf.reshape(tf.cast(raw, tf.int32), out[f"{modality}_shape"])
    out["image_shifts"] = tf.reshape(out["image_shifts"], [-1, 2])
    out["image_grids"] = tf.reshape(out["image_grids"], [-1, 2])
    return out


def dataset(paths: str | list[str]) -> tf.data.Dataset:
    """Parsed records of TFRecord files (a glob pattern or a list), in file order."""
    files = sorted(tf.io.gfile.glob(paths)) if isinstance(paths, str) else list(paths)
    if not files:
        raise FileNotFoundError(f"no token records match {paths}")
    return tf.data.TFRecordDataset(files).map(parse)


def image_variant(record: Mapping[str, Any], shift_index: int) -> np.ndarray:
    """Codes [rows, cols, K] of one image shift variant of a numpy record (padding removed)."""
    rows, cols = record["image_grids"][shift_index]
    return np.asarray(record["image_codes"][shift_index, :rows, :cols])


def read(paths: str | list[str]) -> Iterator[dict[str, Any]]:
    """Numpy records (ids and texts decoded to str)."""
    for record in dataset(paths).as_numpy_iterator():
        for key in ("id", "lmx", "metadata"):
            record[key] = record[key].decode()
        yield record
