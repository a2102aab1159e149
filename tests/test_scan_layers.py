"""Scanned layers (`TransformerConfig.scan_layers`): through the layout converter, the same loss, gradients and
cached greedy decoding as unrolled layers; the [L, ...] stacks shard on the logical "layers" axis."""

from __future__ import annotations

import os
import sys

import flax.linen as nn
import jax
import jax.extend
import numpy as np
import pytest
from model_testing import K, audio, image_output, init_params, lmx, make_batch, midi, mixed_batch, tiny_model

from mt_music.errors import main_with_errors
from mt_music.model import layer_stacks

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from mt_music.vocabulary import Modality


@pytest.fixture(scope="module")
def unrolled():
    model = tiny_model(dropout_rate=0.1)
    return model, init_params(model, seed=2)


@pytest.fixture(scope="module")
def scanned():
    return tiny_model(dropout_rate=0.1, scan_layers=True)


def _loss_and_grads(model, params, batch, rng=None):
    return jax.jit(jax.value_and_grad(lambda p: model.loss_fn(p, batch, rng)[0]))(params)


def test_scanned_parameters_are_the_unrolled_ones_stacked(unrolled, scanned):
    model, params = unrolled
    own = init_params(scanned)
    converted = layer_stacks.to_scanned(params)
    assert jax.tree.structure(own) == jax.tree.structure(converted)
    for a, b in zip(jax.tree.leaves(own), jax.tree.leaves(converted)):
        assert a.shape == b.shape and a.dtype == b.dtype
    kernel = converted["encoder"]["layers"]["mlp"]["wi"]["kernel"]
    assert kernel.shape == (2, 64, 128)
    np.testing.assert_array_equal(kernel[1], params["encoder"]["layers_1"]["mlp"]["wi"]["kernel"])
    assert "layer" in converted["sub_decoder"]  # the sub-decoder's single layer is not a stack
    back = layer_stacks.to_unrolled(converted)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)
    assert layer_stacks.is_scanned(converted) is True and layer_stacks.is_scanned(params) is False


def test_logical_axes_name_the_layers_axis(scanned):
    shapes = {"encoder_input_tokens": (1, 8, K), "decoder_input_tokens": (1, 8, K)}
    variables = jax.eval_shape(lambda rng: scanned.get_initial_variables(rng, shapes), jax.random.key(0))
    specs = nn.get_partition_spec(variables)["params"]
    assert specs["decoder"]["layers"]["self_attention"]["query"]["kernel"] == jax.P("layers", "embed", "heads", "kv")


def test_scanned_layers_give_the_same_loss_and_gradients(unrolled, scanned):
    """fp32, 1e-5, on a mixed-modality batch; dropout (split per layer under scan) still acts."""
    model, params = unrolled
    batch = mixed_batch(seed=4)
    loss, grads = _loss_and_grads(model, params, batch)
    scanned_params = layer_stacks.to_scanned(params)
    scanned_loss, scanned_grads = _loss_and_grads(scanned, scanned_params, batch)
    np.testing.assert_allclose(float(scanned_loss), float(loss), rtol=1e-5, atol=1e-5)
    expected = layer_stacks.to_scanned(jax.tree.map(np.asarray, grads))
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(scanned_grads)):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-5, atol=1e-5)
    assert max(float(np.abs(g).max()) for g in jax.tree.leaves(expected)) > 1e-3  # not all zero
    dropped, _ = _loss_and_grads(scanned, scanned_params, batch, jax.random.key(1))
    assert np.isfinite(float(dropped)) and float(dropped) != float(scanned_loss)


def test_scanned_cached_greedy_decoding_equals_its_teacher_forced_argmax(unrolled, scanned):
    """Every output modality: the scanned model's greedy frames are the unrolled model's, and feeding them back
    teacher-forced through the scanned model gives the same argmax on every sampled slot."""
    model, params = unrolled
    rng = np.random.default_rng(5)
    examples = [(Modality.AUDIO, audio(9, rng), Modality.LMX, lmx(3)),
                (Modality.LMX, lmx(7), Modality.IMAGE, image_output([(2, 2)], rng)),
                (Modality.MIDI, midi(8, rng), Modality.AUDIO, audio(2, rng)),
                (Modality.AUDIO, audio(6, rng), Modality.MIDI, midi(2, rng))]
    batch = make_batch(examples, encoder_length=12, decoder_length=12)
    scanned_params = layer_stacks.to_scanned(params)
    frames, aux = model.predict_batch_with_aux(params, batch)
    scanned_frames, scanned_aux = scanned.predict_batch_with_aux(scanned_params, batch)
    np.testing.assert_array_equal(np.asarray(scanned_frames), np.asarray(frames))
    np.testing.assert_array_equal(np.asarray(scanned_aux["lengths"]), np.asarray(aux["lengths"]))

    frames, lengths = np.asarray(scanned_frames), np.asarray(scanned_aux["lengths"])
    modality = batch["decoder_modality"]
    forced_batch = dict(batch, decoder_input_tokens=np.concatenate([scanned.tables.sos[modality][:, None],
                                                                    frames[:, :-1]], 1),
                        decoder_target_tokens=frames, decoder_positions=np.asarray(scanned_aux["positions"]))
    logits = np.asarray(scanned.logits(scanned_params, forced_batch))
    compared = 0
    for b in range(len(frames)):
        for t in range(lengths[b]):
            forced = scanned.tables.forced[modality[b], frames[b, t, 0]]
            for k in range(K):
                if k == 0 or forced[k - 1] < 0:
                    assert np.argmax(logits[b, t, k]) == frames[b, t, k], (b, t, k)
                    compared += 1
    assert compared > 30 and int(lengths.sum()) > 8


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names |= _primitives(sub)
    return names


def test_a_scanned_model_decodes_through_unrolled_layers(unrolled, scanned):
    """Inside the decoding loop a scanned stack would slice every layer's weights out of its stack at every
    step: decoding restacks the params once and runs the layers unrolled."""
    _, params = unrolled
    batch = make_batch([(Modality.MIDI, midi(6, np.random.default_rng(0)), Modality.AUDIO, audio(3, np.random.default_rng(1)))],
                       encoder_length=8, decoder_length=8)
    inputs = {name: batch[name] for name in ("encoder_input_tokens", "encoder_positions", "encoder_modality",
                                             "decoder_modality")}
    closed = jax.make_jaxpr(lambda p: scanned.predict_batch_with_aux(p, inputs, max_decode_length=4))(
        layer_stacks.to_scanned(params))
    primitives = _primitives(closed.jaxpr)
    assert "while" in primitives and "scan" not in primitives


def test_cache_is_stacked_and_in_the_compute_dtype():
    """The KV cache is [L, B, H, T, D] per scanned stack (heads-major: what a decoding step reads without a
    transpose), in the compute dtype (bf16 halves its memory)."""
    model = tiny_model(scan_layers=True, dtype="bfloat16")
    params = init_params(model)
    batch = make_batch([(Modality.AUDIO, audio(5, np.random.default_rng(0)), Modality.LMX, lmx(3))],
                       encoder_length=8, decoder_length=8)
    encoded = model.module.apply({"params": params}, batch["encoder_input_tokens"], batch["encoder_positions"],
                                 batch["encoder_modality"], batch["decoder_modality"], method=type(model.module).encode)
    _, variables = model.module.apply({"params": params}, encoded, batch["encoder_input_tokens"],
                                      np.zeros((1, 8, K), np.int32), np.zeros((1, 8, 2), np.int32),
                                      batch["decoder_modality"], decode=True, mutable=["cache"],
                                      method=type(model.module).decode)
    cache = variables["cache"]["decoder"]["layers"]
    assert cache["self_attention"]["cached_key"].shape == (2, 1, 4, 8, 16)
    assert cache["cross_attention"]["cross_key"].shape == (2, 1, 4, 8, 16)
    assert {leaf.dtype.name for name, leaf in jax.tree_util.tree_leaves_with_path(cache)
            if "index" not in jax.tree_util.keystr(name)} == {"bfloat16"}


def test_a_run_converted_on_disk_resumes_in_the_other_layout(tmp_path):
    """tools/convert_checkpoint.py: an unrolled run's checkpoint resumes scanned with the same next losses; the
    wrong layout is refused in one line that names the fix; evaluation's restore restacks by itself."""
    import convert_checkpoint
    from train_testing import BATCH, INPUT_SHAPES, TEST_OPTIMIZER, data

    from mt_music.inference import exported
    from mt_music.training import checkpoints, partitioning, trainer

    mesh = partitioning.make_mesh(partitioning.MeshConfig(1, 1, 1), jax.devices()[:1])

    def make(scan_layers):
        return trainer.Trainer(tiny_model(scan_layers=scan_layers), partitioning.Partitioner(mesh), INPUT_SHAPES,
                               TEST_OPTIMIZER)

    unrolled_lib, scanned_lib = make(False), make(True)
    batches = [unrolled_lib.global_batch(data().batch(step, BATCH), BATCH) for step in range(4)]
    state = unrolled_lib.create_state(0)
    for batch in batches[:2]:
        state, _ = unrolled_lib.train_step(state, batch)
    run = tmp_path / "run"
    saver = checkpoints.Checkpointer(run / "checkpoints", async_save=False)
    saver.save(state, 2, force=True)
    saver.close()
    host = jax.tree.map(np.asarray, state)
    expected = [float(unrolled_lib.train_step(state, batch)[1]["loss"]) for batch in batches[2:3]]  # donates state

    with pytest.raises(checkpoints.CheckpointMismatchError, match="unrolled layers and the model scanned.*--to scanned"):
        checkpoints.Checkpointer(run / "checkpoints", async_save=False).restore(scanned_lib.abstract_state, 2)
    params, step = checkpoints.restore_params(run, exported.abstract_params(scanned_lib.model))
    assert step == 2 and layer_stacks.is_scanned(params)
    np.testing.assert_array_equal(np.asarray(params["decoder"]["layers"]["mlp"]["wo"]["kernel"][1]),
                                  host.params["decoder"]["layers_1"]["mlp"]["wo"]["kernel"])

    out = tmp_path / "scanned"
    assert convert_checkpoint.main(["--to", "scanned", str(run), str(out), "--no-progress"]) == 0
    reader = checkpoints.Checkpointer(out / "checkpoints", async_save=False)
    assert reader.verify(2) is None
    resumed = reader.restore(scanned_lib.abstract_state, 2)
    reader.close()
    assert int(resumed.step) == 2
    np.testing.assert_array_equal(np.asarray(resumed.opt_state[1][0].mu["encoder"]["layers"]["attention"]["out"]["kernel"][0]),
                                  host.opt_state[1][0].mu["encoder"]["layers_0"]["attention"]["out"]["kernel"])
    got = [float(scanned_lib.train_step(resumed, batch)[1]["loss"]) for batch in batches[2:3]]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert main_with_errors(convert_checkpoint.main, ["--to", "scanned", str(run), str(out)]) == 2  # not over a run
