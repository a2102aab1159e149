"""jax.nn.dot_product_attention ("xla"; "cudnn" on NVIDIA GPUs) in place of our einsum attention: the same loss
and gradients in fp32, and cached greedy decoding still equal to the teacher-forced argmax."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from model_testing import audio, image_output, init_params, lmx, make_batch, midi, mixed_batch, tiny_model

from mt_music.model import layers, network
from mt_music.vocabulary import Modality


def _loss_and_grads(model, params, batch):
    return jax.jit(jax.value_and_grad(lambda p: model.loss_fn(p, batch, None)[0]))(params)


def test_fused_attention_gives_the_same_loss_and_gradients():
    batch = mixed_batch(seed=3)
    reference = tiny_model()
    params = init_params(reference)
    loss, grads = _loss_and_grads(reference, params, batch)
    fused_loss, fused_grads = _loss_and_grads(tiny_model(attention="xla"), params, batch)
    np.testing.assert_allclose(float(fused_loss), float(loss), rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(fused_grads)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-5)
    assert max(float(np.abs(np.asarray(g)).max()) for g in jax.tree.leaves(grads)) > 1e-3  # not all zero


def test_attention_with_padding_masks_matches_einsum():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, length, 4, 8)).astype(np.float32) for length in (5, 7, 7))
    valid_q, valid_k = np.arange(5) < np.array([[5], [3]]), np.arange(7) < np.array([[7], [4]])
    mask = layers.attention_mask(valid_q, valid_k)
    expected = layers.dot_product_attention(q, k, v, mask)
    fused = layers.dot_product_attention(q, k, v, mask, implementation="xla")
    np.testing.assert_allclose(np.asarray(fused)[valid_q], np.asarray(expected)[valid_q], rtol=1e-5, atol=1e-6)
    causal = layers.causal_mask(7)
    np.testing.assert_allclose(np.asarray(layers.dot_product_attention(k, k, v, causal, implementation="xla")),
                               np.asarray(layers.dot_product_attention(k, k, v, causal)), rtol=1e-5, atol=1e-6)


def test_cached_greedy_decoding_is_the_same_on_every_output_modality():
    """The same frames as einsum attention, whose greedy output test_decoding checks against the
    teacher-forced argmax: so the fused path's decoding equals its teacher-forced argmax too."""
    rng = np.random.default_rng(5)
    examples = [(Modality.AUDIO, audio(9, rng), Modality.LMX, lmx(3)),
                (Modality.LMX, lmx(7), Modality.IMAGE, image_output([(2, 2)], rng)),
                (Modality.MIDI, midi(8, rng), Modality.AUDIO, audio(2, rng)),
                (Modality.AUDIO, audio(6, rng), Modality.MIDI, midi(2, rng))]
    batch = make_batch(examples, encoder_length=12, decoder_length=12)
    reference = tiny_model()
    params = init_params(reference)
    frames, aux = reference.predict_batch_with_aux(params, batch)
    fused_frames, fused_aux = tiny_model(attention="xla").predict_batch_with_aux(params, batch)
    np.testing.assert_array_equal(np.asarray(fused_frames), np.asarray(frames))
    np.testing.assert_array_equal(np.asarray(fused_aux["lengths"]), np.asarray(aux["lengths"]))
    np.testing.assert_allclose(np.asarray(fused_aux["scores"]), np.asarray(aux["scores"]), rtol=1e-4, atol=1e-4)
    assert int(np.asarray(aux["lengths"]).sum()) > 8


def test_unknown_implementation_is_refused():
    with pytest.raises(ValueError, match="attention must be one of"):
        network.TransformerConfig(attention="flash")
