"""A trained codec for inference: score images / audio ↔ codes, and codes → PNG / WAV.

`load_codec(model_dir)` rebuilds the network from the run's `codec.json` and
restores only its inference variables (params + EMA codebooks) from the latest
orbax checkpoint — no gin, no optimizer state, no TensorFlow.

Audio is padded with silence to whole seconds before encoding, so a handful of jit
compilations serve every length (the DAC network has no normalisation layers: the
padding only reaches the last frame's receptive field). Images are NOT bucketed:
the RQ-VAE's GroupNorm takes statistics over the whole image, so extra white
padding would change every code; each image is encoded at its own ×16 size (one
compilation per size). Batches group equal sizes, so an input's codes never depend
on what else is in the batch.
"""

from __future__ import annotations

import importlib
import io
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from mt_music.codecs import models

IMAGE_BUCKET = (16, 16)  # exact ×16 sizes (see above)
AUDIO_BUCKET_FRAMES = 86  # ≈ 1 s of hops


def _round_up(value: int, quantum: int) -> int:
    return max(quantum, -(-value // quantum) * quantum)


def _batch_rows(n: int) -> int:
    """Batches padded to a power of two: few compilations, little waste."""
    return 1 << max(0, (n - 1).bit_length())


class TrainedCodec:
    """A codec model with restored variables; encode/decode work on single unbatched inputs."""

    def __init__(self, model: models.CodecModel, variables: dict[str, Any], step: int | None = None):
        self.model, self.variables, self.step = model, variables, step
        self._encode = jax.jit(lambda v, x: model.encode(v, x))
        self._decode = jax.jit(lambda v, c: model.decode(v, c))

    @property
    def kind(self) -> str:
        return "image" if self.model.feature == "images" else "audio"

    @property
    def spec(self) -> dict[str, Any]:
        """What codec.json holds (the fingerprint of a bake covers it)."""
        return self.model.to_spec()

    @property
    def num_codebooks(self) -> int:
        return self.model.quantizer_config.num_codebooks

    @property
    def codebook_size(self) -> int:
        return self.model.quantizer_config.codebook_size

    # ------------------------------------------------------------ images

    def encode_image(self, pixels: np.ndarray) -> np.ndarray:
        """[H, W] in [-1, 1] (H, W multiples of 16) → codes int32 [H/16, W/16, K]."""
        return self.encode_images([pixels])[0]

    def encode_images(self, images: list[np.ndarray], max_batch: int = 16) -> list[np.ndarray]:
        """`encode_image` over many images, batched by bucket size (same codes as one by one)."""
        self._expect("image")
        factor = self.model.config.downsampling
        images = [np.asarray(p, np.float32) for p in images]
        for pixels in images:
            if pixels.ndim != 2 or pixels.shape[0] % factor or pixels.shape[1] % factor:
                raise ValueError(f"expected [H, W] images with sides multiples of {factor}, got {pixels.shape}")
        buckets = [(_round_up(p.shape[0], IMAGE_BUCKET[0]), _round_up(p.shape[1], IMAGE_BUCKET[1])) for p in images]
        codes = self._encode_bucketed(images, buckets, fill=1.0, max_batch=max_batch)  # white padding
        return [c[: p.shape[0] // factor, : p.shape[1] // factor] for c, p in zip(codes, images)]

    def decode_image(self, codes: np.ndarray) -> np.ndarray:
        """Codes [rows, cols, K] → pixels [rows·16, cols·16] in [-1, 1]."""
        self._expect("image")
        codes = self._check_codes(codes, 3)
        pixels = self._decode(self.variables, jnp.asarray(codes[None]))[0, ..., 0]
        return np.clip(np.asarray(pixels, np.float32), -1.0, 1.0)

    # ------------------------------------------------------------ audio

    def encode_audio(self, waveform: np.ndarray) -> np.ndarray:
        """Mono float32 at the codec's rate → codes int32 [ceil(T / hop), K] (the tail zero-padded)."""
        return self.encode_audios([waveform])[0]

    def encode_audios(self, waveforms: list[np.ndarray], max_batch: int = 16) -> list[np.ndarray]:
        """`encode_audio` over many waveforms, batched by bucket length (same codes as one by one)."""
        self._expect("audio")
        hop = self.model.config.hop_length
        waveforms = [np.asarray(w, np.float32) for w in waveforms]
        for waveform in waveforms:
            if waveform.ndim != 1:
                raise ValueError(f"expected mono waveforms [T], got shape {waveform.shape}")
        frames = [max(1, -(-len(w) // hop)) for w in waveforms]
        buckets = [(_round_up(f, AUDIO_BUCKET_FRAMES) * hop,) for f in frames]
        codes = self._encode_bucketed(waveforms, buckets, fill=0.0, max_batch=max_batch)  # silence
        return [c[:f] for c, f in zip(codes, frames)]

    def _encode_bucketed(self, inputs: list[np.ndarray], buckets: list[tuple[int, ...]], fill: float,
                         max_batch: int) -> list[np.ndarray]:
        """Encodes inputs of equal bucket shape together, each padded with `fill` at its end."""
        results: list[np.ndarray | None] = [None] * len(inputs)
        for bucket in sorted(set(buckets)):
            members = [i for i, b in enumerate(buckets) if b == bucket]
            for start in range(0, len(members), max_batch):
                chunk = members[start: start + max_batch]
                canvas = np.full((_batch_rows(len(chunk)), *bucket, 1), fill, np.float32)
                for row, i in enumerate(chunk):
                    canvas[(row, *(slice(0, n) for n in inputs[i].shape), 0)] = inputs[i]
                codes = np.asarray(self._encode(self.variables, jnp.asarray(canvas)), np.int32)
                for row, i in enumerate(chunk):
                    results[i] = codes[row]
        return results

    def decode_audio(self, codes: np.ndarray) -> np.ndarray:
        """Codes [frames, K] → mono float32 [frames · hop] in [-1, 1]."""
        self._expect("audio")
        codes = self._check_codes(codes, 2)
        waveform = self._decode(self.variables, jnp.asarray(codes[None]))[0, :, 0]
        return np.clip(np.asarray(waveform, np.float32), -1.0, 1.0)

    @property
    def sample_rate(self) -> int:
        self._expect("audio")
        return self.model.config.sample_rate

    # ------------------------------------------------------------ checks

    def _expect(self, kind: str) -> None:
        if self.kind != kind:
            raise ValueError(f"this is an {self.kind} codec; it cannot handle {kind} data")

    def _check_codes(self, codes: np.ndarray, ndim: int) -> np.ndarray:
        from mt_music.codecs import fitted

        return fitted.check_codes(codes, ndim, self.num_codebooks, self.codebook_size)


# Fitted (CPU) codec families by their codec.json kind; imported when first needed.
FITTED_FAMILIES = {"patch_image": "mt_music.codecs.patch_image:PatchImageCodec",
                   "spectral_audio": "mt_music.codecs.spectral_audio:SpectralAudioCodec"}


def fitted_family(kind: str) -> type:
    module, name = FITTED_FAMILIES[kind].split(":")
    return getattr(importlib.import_module(module), name)


def fitted_family_of_config(config: Any) -> type:
    """The fitted codec class whose config class `config` is an instance of."""
    for kind in FITTED_FAMILIES:
        cls = fitted_family(kind)
        if isinstance(config, cls.config_class):
            return cls
    raise ValueError(f"{type(config).__name__} is not the config of a fitted codec family ({sorted(FITTED_FAMILIES)})")


def load_codec(model_dir: str | os.PathLike, step: int | None = None) -> Any:
    """The codec of `model_dir`: a trained one (codec.json + latest or given checkpoint) → TrainedCodec,
    or a fitted one (codec.json + arrays.npz) → its `fitted.FittedCodec` (same surface)."""
    model_dir = os.fspath(model_dir)
    spec_path = os.path.join(model_dir, "codec.json")
    if not os.path.isfile(spec_path):
        raise FileNotFoundError(f"{model_dir} is not a codec directory (no codec.json); train one with "
                                "`python -m mt_music.codecs.train` or fit one with `python -m mt_music.codecs.fit`")
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("kind") in FITTED_FAMILIES:
        from mt_music.codecs import fitted

        return fitted.load(model_dir, spec, {spec["kind"]: fitted_family(spec["kind"])})
    model = models.model_from_spec(spec)
    manager = ocp.CheckpointManager(os.path.abspath(os.path.join(model_dir, "checkpoints")), item_names=("state",))
    step = manager.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {model_dir}/checkpoints")
    target = _abstract_variables(model)
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target), partial_restore=True)))
    manager.close()
    state = restored["state"]
    return TrainedCodec(model, {"params": state["params"], "quantizer": state["quantizer"]}, step)


def _abstract_variables(model: models.CodecModel) -> dict[str, Any]:
    """Shapes of the inference variables; single-device replicated (these are small)."""
    size = 16 * model.config.downsampling if model.feature == "images" else 16 * model.config.hop_length
    shape = (1, size, size, 1) if model.feature == "images" else (1, size, 1)
    variables, _ = jax.eval_shape(lambda rng: model.init(rng, {model.feature: jnp.zeros(shape)}),
                                  jax.random.PRNGKey(0))
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), variables)


# ------------------------------------------------------------------ files


def codes_to_png(codec: TrainedCodec, codes: np.ndarray) -> bytes:
    """Image codes [rows, cols, K] → a grayscale PNG (8-bit)."""
    from PIL import Image

    pixels = codec.decode_image(codes)
    gray = np.round((pixels + 1.0) * 127.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue()


def codes_to_wav(codec: TrainedCodec, codes: np.ndarray) -> bytes:
    """Audio codes [frames, K] → a 16-bit mono WAV at the codec's rate."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, codec.decode_audio(codes), codec.sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()
