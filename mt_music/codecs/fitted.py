"""Fitted codecs: codecs whose codebooks are fitted (k-means, a small regression), not trained end to end.

They have the surface of `tokenizer.TrainedCodec` (kind, num_codebooks, codebook_size, step,
encode_images / decode_image or encode_audios / decode_audio, sample_rate, spec, variables), so
the token bake, the evaluation and the tasks take either. A fitted codec directory holds

    arrays.npz    every parameter array (codebooks, feature statistics, decoder weights)
    codec.json    {"kind": <family>, "config": {...}, "arrays_sha256": ...}   — written last

so a half-written directory has no codec.json and is never loaded, and a changed arrays.npz is
refused on load (the checksum).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import typing
from typing import Any, ClassVar

import numpy as np

from mt_music.errors import UserError

ARRAYS_FILE = "arrays.npz"
SPEC_FILE = "codec.json"


def check_settings(config: Any, *, may_be_zero: tuple[str, ...] = ("seed",), odd: tuple[str, ...] = (),
                   any_sign: tuple[str, ...] = ()) -> None:
    """A fitted codec config's numbers must make sense before minutes of fitting: every number
    positive (`may_be_zero` ones ≥ 0, `any_sign` ones unchecked), `odd` ones odd. UserError naming
    the gin binding otherwise."""
    name = type(config).__name__
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in any_sign or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        floor_ok = value >= 0 if field.name in may_be_zero else value > 0
        if not floor_ok or (field.name in odd and value % 2 != 1):
            need = "≥ 0" if field.name in may_be_zero else "> 0"
            need += " and odd" if field.name in odd else ""
            raise UserError(f"{name}.{field.name} = {value!r}: must be {need} (set it in the gin file or with "
                            f"--gin.{name}.{field.name}=…)")


class FittedCodec:
    """Base class; subclasses set `family` (codec.json kind), `kind` ("image"/"audio"), `config_class`."""

    family: ClassVar[str]
    kind: ClassVar[str]
    config_class: ClassVar[type]
    step = None  # fitted, not trained: no training step

    def __init__(self, config: Any, arrays: dict[str, np.ndarray]):
        self.config = config
        self.arrays = {name: np.asarray(value) for name, value in arrays.items()}

    @property
    def num_codebooks(self) -> int:
        return self.config.num_codebooks

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": self.family, "config": dataclasses.asdict(self.config)}

    @property
    def variables(self) -> dict[str, np.ndarray]:
        return self.arrays

    def check_codes(self, codes: np.ndarray, ndim: int) -> np.ndarray:
        return check_codes(codes, ndim, self.num_codebooks, self.codebook_size)

    # ------------------------------------------------------------ files

    def save(self, model_dir: str | os.PathLike) -> None:
        """arrays.npz, then codec.json with its checksum (the marker of a complete directory)."""
        os.makedirs(model_dir, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **self.arrays)
        data = buffer.getvalue()
        with open(os.path.join(model_dir, ARRAYS_FILE), "wb") as f:
            f.write(data)
        spec = dict(self.spec, arrays_sha256=hashlib.sha256(data).hexdigest())
        temporary = os.path.join(model_dir, SPEC_FILE + ".tmp")
        with open(temporary, "w") as f:
            json.dump(spec, f, indent=1)
        os.replace(temporary, os.path.join(model_dir, SPEC_FILE))


def check_codes(codes: np.ndarray, ndim: int, num_codebooks: int, codebook_size: int) -> np.ndarray:
    """Integer codes with `ndim` dims, ≤ K in the last, each in 0..codebook_size − 1 (int32)."""
    codes = np.asarray(codes)
    if codes.ndim != ndim or codes.shape[-1] > num_codebooks or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"expected integer codes with {ndim} dims and ≤ {num_codebooks} codebooks "
                         f"in the last, got {codes.dtype} {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
        raise ValueError(f"codes must be in 0..{codebook_size - 1}, got {codes.min()}..{codes.max()}")
    return codes.astype(np.int32)


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """A frozen config dataclass from `dataclasses.asdict` output (lists → tuples; unknown keys refused)."""
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings {unknown}")
    hints = typing.get_type_hints(cls)
    return cls(**{name: tuple(value) if isinstance(value, list) and "tuple" in str(hints[name]) else value
                  for name, value in values.items()})


def load(model_dir: str | os.PathLike, spec: dict[str, Any], families: dict[str, type[FittedCodec]]) -> FittedCodec:
    """The fitted codec of `model_dir` (whose codec.json is `spec`), its arrays verified."""
    model_dir = os.fspath(model_dir)
    cls = families[spec["kind"]]
    path = os.path.join(model_dir, ARRAYS_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{model_dir} has a codec.json but no {ARRAYS_FILE}: refit the codec "
                        f"(python -m mt_music.codecs.fit)")
    with open(path, "rb") as f:
        data = f.read()
    if spec.get("arrays_sha256") != hashlib.sha256(data).hexdigest():
        raise UserError(f"{path} does not match the checksum in {SPEC_FILE} (damaged or replaced): refit the codec")
    with np.load(io.BytesIO(data)) as arrays:
        loaded = {name: arrays[name] for name in arrays.files}
    return cls(config_from_dict(cls.config_class, spec["config"]), loaded)
