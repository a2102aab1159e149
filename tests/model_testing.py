"""Shared tiny model and real mixed-modality batches for the model-core tests (CPU, fp32)."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import numpy as np

from mt_music.image import grids
from mt_music.model import models, network
from mt_music.vocabulary import Modality, UnifiedVocabulary

K = 4
LMX_TOKENS = "measure key:fifths:0 clef:G2 staff:1 time beats:4 beat-type:4 C4 quarter D4 eighth E4".split()


@functools.cache
def vocabulary() -> UnifiedVocabulary:
    return UnifiedVocabulary()


def tiny_config(**overrides) -> network.TransformerConfig:
    """The same architecture as gin/models/tiny.gin."""
    fields = dict(emb_dim=64, num_heads=4, head_dim=16, mlp_dim=128, num_encoder_layers=2, num_decoder_layers=2,
                  sub_decoder_heads=4, dropout_rate=0.0, dtype="float32", max_lmx_positions=128,
                  max_midi_positions=128, max_image_columns=32, max_audio_frames=128)
    fields.update(overrides)
    return network.TransformerConfig(**fields)


def tiny_model(**overrides) -> models.EncoderDecoderModel:
    z_loss = overrides.pop("z_loss", 1e-4)
    return models.EncoderDecoderModel(network.Transformer(tiny_config(**overrides)), vocabulary(), z_loss=z_loss)


def init_params(model: models.EncoderDecoderModel, seed: int = 0, length: int = 8) -> dict:
    shapes = {"encoder_input_tokens": (1, length, K), "decoder_input_tokens": (1, length, K)}
    variables = jax.jit(lambda rng: model.get_initial_variables(rng, shapes))(jax.random.key(seed))
    return nn.meta.unbox(variables)["params"]


# ------------------------------------------------------------------ sequences: (frames [T, K], positions [T, 2])


def line(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positions = np.stack([np.arange(len(frames)), np.zeros(len(frames), int)], axis=1)
    return frames, positions


def lmx(num_tokens: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    tokens = [LMX_TOKENS[(offset + i) % len(LMX_TOKENS)] for i in range(num_tokens)]
    return line(vocabulary().encode_lmx(tokens))


def midi(num_events: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    native = rng.integers(3, vocabulary().config.midi_codec.vocab_size, num_events)
    return line(vocabulary().encode_midi(native))


def audio(num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return line(vocabulary().encode_audio(rng.integers(0, 1024, (num_frames, K)), add_eos=True))


def random_grids(shapes: list[tuple[int, int]], rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(0, 1024, (rows, cols, K)) for rows, cols in shapes]


def image_input(shapes, rng) -> tuple[np.ndarray, np.ndarray]:
    joined = grids.join_systems_for_input(random_grids(shapes, rng))
    return vocabulary().encode_image(joined.frames), joined.positions


def image_output(shapes, rng) -> tuple[np.ndarray, np.ndarray]:
    """Target frames (height, codes, SEP …, EOS) and the positions of the frames before EOS."""
    joined = grids.join_systems_for_output(random_grids(shapes, rng))
    return vocabulary().encode_image(joined.frames, add_eos=True), joined.positions


def make_batch(examples, encoder_length: int, decoder_length: int, task_ids=None) -> dict[str, np.ndarray]:
    """examples: (source modality, source seq, target modality, target seq) → padded batch.

    Decoder inputs are SOS + targets shifted right; their positions are SOS (0, 0) then
    the target positions shifted right (the positions of the input frames).
    """
    voc = vocabulary()
    b = len(examples)
    batch = {
        "encoder_input_tokens": np.zeros((b, encoder_length, K), np.int32),
        "encoder_positions": np.zeros((b, encoder_length, 2), np.int32),
        "encoder_modality": np.zeros(b, np.int32),
        "decoder_input_tokens": np.zeros((b, decoder_length, K), np.int32),
        "decoder_target_tokens": np.zeros((b, decoder_length, K), np.int32),
        "decoder_positions": np.zeros((b, decoder_length, 2), np.int32),
        "decoder_modality": np.zeros(b, np.int32),
    }
    for i, (source_modality, (source, source_pos), target_modality, (target, target_pos)) in enumerate(examples):
        assert len(source) <= encoder_length and len(target) <= decoder_length, (len(source), len(target))
        batch["encoder_input_tokens"][i, : len(source)] = source
        batch["encoder_positions"][i, : len(source)] = source_pos
        batch["encoder_modality"][i] = source_modality
        batch["decoder_modality"][i] = target_modality
        batch["decoder_target_tokens"][i, : len(target)] = target
        inputs = np.concatenate([voc.sos_frame(target_modality)[None], target[:-1]])
        batch["decoder_input_tokens"][i, : len(target)] = inputs
        if target_modality == Modality.IMAGE:
            batch["decoder_positions"][i, 1 : len(target)] = target_pos
        else:
            batch["decoder_positions"][i, : len(target), 0] = np.arange(len(target))
    if task_ids is not None:
        batch["task_id"] = np.asarray(task_ids, np.int32)
    return batch


def mixed_batch(seed: int = 0, encoder_length: int = 24, decoder_length: int = 16) -> dict[str, np.ndarray]:
    """OMR (image→LMX), engraving (LMX→image), AMT (audio→MIDI), synthesis (MIDI→audio)."""
    rng = np.random.default_rng(seed)
    examples = [
        (Modality.IMAGE, image_input([(3, 4), (2, 3)], rng), Modality.LMX, lmx(10)),
        (Modality.LMX, lmx(12, offset=3), Modality.IMAGE, image_output([(2, 3), (3, 2)], rng)),
        (Modality.AUDIO, audio(12, rng), Modality.MIDI, midi(9, rng)),
        (Modality.MIDI, midi(11, rng), Modality.AUDIO, audio(10, rng)),
    ]
    return make_batch(examples, encoder_length, decoder_length, task_ids=[0, 1, 2, 3])
