"""Codec models: a network plus its training losses, behind one interface the codec trainer drives.

`ImageCodecModel` (RQ-VAE, reconstruction + structure losses) and `AudioCodecModel`
(DAC-style generator, optionally adversarial with a discriminator) share:

    init(rng, batch)                       → (variables {"params", "quantizer"}, discriminator params)
    generator_loss(params, qstate, dparams, batch, rng, adversarial_gate)
                                           → (loss, (metrics, new qstate, reconstruction))
    discriminator_loss(dparams, batch, reconstruction) → (loss, metrics)   [adversarial only]
    reconstruct / encode / decode          (eval mode, frozen quantizer)

A model is described by a JSON-able spec (`to_spec` / `model_from_spec`), which a
training run stores next to its checkpoints, so tools rebuild the codec without gin.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import jax
import jax.numpy as jnp

from mt_music.codecs import audio_codec, audio_losses, discriminators, image_losses, image_rqvae, quantizer

Array = jax.Array


class BatchShapeError(ValueError):
    """Windows the codec network cannot take (raised before any tracing)."""


def _metrics_of_quantizer(q: quantizer.QuantizerOutput) -> dict[str, Array]:
    metrics = {"vq/commitment_loss": q.commitment_loss, "vq/codebook_loss": q.codebook_loss}
    for k in range(q.usage.shape[0]):
        metrics[f"vq/usage_{k}"] = q.usage[k]
        metrics[f"vq/perplexity_{k}"] = q.perplexity[k]
    return metrics


class CodecModel:
    """Shared plumbing; subclasses set `feature`, `module` and the loss."""

    feature: str  # the batch key: "images" or "audio"
    module: Any
    discriminator: Any = None

    @property
    def adversarial(self) -> bool:
        return self.discriminator is not None

    @property
    def quantizer_config(self) -> quantizer.QuantizerConfig:
        return self.module.config.quantizer

    def check_batch(self, batch: dict[str, Any]) -> None:
        """A clear error for windows the network cannot take (before any tracing)."""
        if self.feature not in batch:
            raise BatchShapeError(f"batch has no {self.feature!r} feature (got {sorted(batch)})")

    def init(self, rng: Array, batch: dict[str, Array]) -> tuple[dict[str, Any], Any]:
        model_rng, quantizer_rng, disc_rng = jax.random.split(rng, 3)
        x = batch[self.feature]
        variables = self.module.init({"params": model_rng, "quantizer": quantizer_rng}, x, train=False)
        variables = {"params": variables["params"], "quantizer": variables.get("quantizer", {})}
        disc_params = self.discriminator.init(disc_rng, x)["params"] if self.adversarial else {}
        return variables, disc_params

    def _forward(self, params, quantizer_state, x, rng):
        (reconstruction, q), mutated = self.module.apply(
            {"params": params, "quantizer": quantizer_state}, x, train=True, rngs={"quantizer": rng},
            mutable=["quantizer"])
        return reconstruction, q, mutated.get("quantizer", quantizer_state)

    def _vq_loss(self, q: quantizer.QuantizerOutput) -> Array:
        config = self.quantizer_config
        return config.commitment_weight * q.commitment_loss + config.codebook_weight * q.codebook_loss

    def reconstruct(self, variables: dict[str, Any], x: Array) -> Array:
        reconstruction, _ = self.module.apply(variables, x, train=False)
        return reconstruction

    def encode(self, variables: dict[str, Any], x: Array) -> Array:
        return self.module.apply(variables, x, method=self.module.encode)

    def decode(self, variables: dict[str, Any], codes: Array) -> Array:
        return self.module.apply(variables, codes, method=self.module.decode)

    def to_spec(self) -> dict[str, Any]:
        raise NotImplementedError


class ImageCodecModel(CodecModel):
    """Image RQ-VAE: reconstruction + structure losses (image_losses) + VQ losses; no discriminator."""

    feature = "images"

    def __init__(self, config: image_rqvae.ImageCodecConfig = image_rqvae.ImageCodecConfig(),
                 loss: image_losses.ImageLossConfig = image_losses.ImageLossConfig()):
        self.config, self.loss_config = config, loss
        self.module = image_rqvae.ImageRQVAE(config)

    def check_batch(self, batch):
        super().check_batch(batch)
        shape = tuple(batch[self.feature].shape)
        factor = self.config.downsampling
        if len(shape) != 4 or shape[-1] != 1 or shape[1] % factor or shape[2] % factor:
            raise BatchShapeError(f"images must be [B, H, W, 1] with H and W multiples of {factor}, got {shape}")

    def generator_loss(self, params, quantizer_state, disc_params, batch, rng, adversarial_gate=0.0):
        del disc_params, adversarial_gate
        images = batch[self.feature]
        reconstruction, q, quantizer_state = self._forward(params, quantizer_state, images, rng)
        losses = image_losses.reconstruction_losses(images, reconstruction, self.loss_config)
        loss = losses["total"] + self._vq_loss(q)
        metrics = {f"loss/{name}": value for name, value in losses.items() if name != "total"}
        metrics.update(_metrics_of_quantizer(q), **{"loss/reconstruction": losses["total"], "loss/total": loss})
        return loss, (metrics, quantizer_state, reconstruction)

    def reconstruction_metrics(self, images, reconstruction):
        losses = image_losses.reconstruction_losses(images, reconstruction, self.loss_config)
        metrics = {f"loss/{name}": value for name, value in losses.items() if name != "total"}
        metrics["loss/reconstruction"] = losses["total"]
        metrics["pixel_mae"] = jnp.mean(jnp.abs(jnp.clip(reconstruction, -1, 1) - images))
        return metrics

    def to_spec(self):
        return {"kind": "image", "config": _asdict(self.config), "loss": _asdict(self.loss_config)}


@dataclasses.dataclass(frozen=True)
class AudioLossConfig:
    """Loss weights; the DAC recipe's (mel 15, feature matching 2, adversarial 1) plus a multi-resolution
    STFT term (ours, weight 1) that pins down phase-sensitive magnitudes the mel bins blur."""

    mel_weight: float = 15.0
    stft_weight: float = 1.0
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 2.0


class AudioCodecModel(CodecModel):
    """DAC-style audio codec; `adversarial=False` trains the generator on spectral + VQ losses alone."""

    feature = "audio"

    def __init__(self, config: audio_codec.AudioCodecConfig = audio_codec.AudioCodecConfig(),
                 loss: AudioLossConfig = AudioLossConfig(), adversarial: bool = True,
                 discriminator: discriminators.DiscriminatorConfig = discriminators.DiscriminatorConfig()):
        self.config, self.loss_config, self.discriminator_config = config, loss, discriminator
        self.module = audio_codec.AudioCodec(config)
        self.discriminator = discriminators.AudioDiscriminator(discriminator) if adversarial else None

    def check_batch(self, batch):
        super().check_batch(batch)
        shape = tuple(batch[self.feature].shape)
        hop = self.config.hop_length
        if len(shape) != 3 or shape[-1] != 1 or shape[1] % hop:
            raise BatchShapeError(f"audio must be [B, T, 1] with T a multiple of the hop ({hop}), got {shape}")

    def generator_loss(self, params, quantizer_state, disc_params, batch, rng, adversarial_gate=1.0):
        audio = batch[self.feature]
        weights = self.loss_config
        reconstruction, q, quantizer_state = self._forward(params, quantizer_state, audio, rng)
        mel = audio_losses.multi_scale_mel_loss(audio, reconstruction, self.config.sample_rate)
        stft = audio_losses.multi_resolution_stft_loss(audio, reconstruction)
        loss = weights.mel_weight * mel + weights.stft_weight * stft + self._vq_loss(q)
        metrics = {"loss/mel": mel, "loss/stft": stft}
        if self.adversarial:
            real, fake = self._discriminate(disc_params, audio, reconstruction)
            adversarial = audio_losses.generator_adversarial_loss(fake)
            feature_matching = audio_losses.feature_matching_loss(real, fake)
            loss += adversarial_gate * (weights.adversarial_weight * adversarial
                                        + weights.feature_matching_weight * feature_matching)
            metrics.update({"loss/adversarial": adversarial, "loss/feature_matching": feature_matching})
        metrics.update(_metrics_of_quantizer(q), **{"loss/total": loss})
        return loss, (metrics, quantizer_state, reconstruction)

    def _discriminate(self, disc_params, real, fake):
        """One discriminator pass over real and fake stacked on the batch axis (half the launches)."""
        outputs = self.discriminator.apply({"params": disc_params}, jnp.concatenate([real, fake], axis=0))
        n = real.shape[0]
        real_out = [[feature[:n] for feature in features] for features in outputs]
        fake_out = [[feature[n:] for feature in features] for features in outputs]
        return real_out, fake_out

    def discriminator_loss(self, disc_params, batch, reconstruction):
        real, fake = self._discriminate(disc_params, batch[self.feature], jax.lax.stop_gradient(reconstruction))
        loss = audio_losses.discriminator_loss(real, fake)
        return loss, {"loss/discriminator": loss}

    def reconstruction_metrics(self, audio, reconstruction):
        return {"loss/mel": audio_losses.multi_scale_mel_loss(audio, reconstruction, self.config.sample_rate),
                "loss/stft": audio_losses.multi_resolution_stft_loss(audio, reconstruction),
                "waveform_l1": jnp.mean(jnp.abs(reconstruction - audio))}

    def to_spec(self):
        return {"kind": "audio", "config": _asdict(self.config), "loss": _asdict(self.loss_config),
                "adversarial": self.adversarial, "discriminator": _asdict(self.discriminator_config)}


# ------------------------------------------------------------------ specs


def _asdict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuilds a (nested) frozen dataclass from `dataclasses.asdict` output; lists → tuples."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            continue
        value = values[field.name]
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = _from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[field.name] = value
    return cls(**kwargs)


def model_from_spec(spec: dict[str, Any]) -> CodecModel:
    """The inverse of `to_spec` (what `codec.json` holds)."""
    if spec["kind"] == "image":
        return ImageCodecModel(_from_dict(image_rqvae.ImageCodecConfig, spec["config"]),
                               _from_dict(image_losses.ImageLossConfig, spec["loss"]))
    if spec["kind"] == "audio":
        return AudioCodecModel(_from_dict(audio_codec.AudioCodecConfig, spec["config"]),
                               _from_dict(AudioLossConfig, spec["loss"]), spec["adversarial"],
                               _from_dict(discriminators.DiscriminatorConfig, spec["discriminator"]))
    raise ValueError(f"unknown codec kind {spec['kind']!r} (expected 'image' or 'audio')")
