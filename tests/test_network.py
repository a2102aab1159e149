"""The Transformer: shapes, masks, padding invariance, causality, positions, logical axes, remat."""

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from model_testing import K, init_params, mixed_batch, tiny_config, tiny_model

from mt_music.model import layers, network
from mt_music.vocabulary import Modality


@pytest.fixture(scope="module")
def logits_fn(model):
    return jax.jit(model.logits)


@pytest.fixture(scope="module")
def batch():
    return mixed_batch()


def test_logits_shape_and_modality_masks(model, params, logits_fn, batch):
    logits = np.asarray(logits_fn(params, batch))
    b, ld = batch["decoder_target_tokens"].shape[:2]
    assert logits.shape == (b, ld, K, model.module.config.vocab_size) and logits.dtype == np.float32
    allowed = model.tables.logit_mask[batch["decoder_modality"]][:, None]  # [B, 1, K, V]
    assert np.all(logits[~np.broadcast_to(allowed, logits.shape)] == layers.NEG_INF)
    assert np.all(np.take_along_axis(allowed, logits.argmax(-1)[..., None], -1))


def test_encoder_padding_does_not_change_outputs(params, logits_fn, batch):
    rng = np.random.default_rng(0)
    padded = dict(batch)
    extra = 8
    junk_tokens = rng.integers(1, 5000, (len(batch["encoder_modality"]), extra, K))
    junk_tokens[..., 0] = 0  # PAD in slot 0 marks padding; other slots may hold anything
    padded["encoder_input_tokens"] = np.concatenate([batch["encoder_input_tokens"], junk_tokens], 1)
    padded["encoder_positions"] = np.concatenate(
        [batch["encoder_positions"], rng.integers(0, 30, (len(junk_tokens), extra, 2))], 1)
    # Also scramble the PAD positions already inside the batch.
    pad = batch["encoder_input_tokens"][..., 0] == 0
    padded["encoder_positions"][:, : pad.shape[1]][pad] = rng.integers(0, 30, (pad.sum(), 2))
    valid = batch["decoder_target_tokens"][..., 0] != 0
    np.testing.assert_allclose(np.asarray(logits_fn(params, padded))[valid],
                               np.asarray(logits_fn(params, batch))[valid], rtol=1e-5, atol=1e-4)


def test_decoder_is_causal_over_frames(params, logits_fn, batch):
    t = 5
    changed = dict(batch)
    changed["decoder_input_tokens"] = batch["decoder_input_tokens"].copy()
    changed["decoder_input_tokens"][:, t:] = np.random.default_rng(1).integers(1, 9000, (4, 16 - t, K))
    changed["decoder_positions"] = batch["decoder_positions"] + (np.arange(16) >= t)[None, :, None] * 3
    before, after = np.asarray(logits_fn(params, batch)), np.asarray(logits_fn(params, changed))
    np.testing.assert_allclose(after[:, :t], before[:, :t], rtol=1e-5, atol=1e-4)
    assert np.abs(after[:, t] - before[:, t]).max() > 1e-3


def test_sub_decoder_is_causal_over_slots(params, logits_fn, batch):
    t, k = 3, 1
    changed = dict(batch)
    changed["decoder_target_tokens"] = batch["decoder_target_tokens"].copy()
    changed["decoder_target_tokens"][:, t, k] += 1  # slot k is only an input to slots > k
    before, after = np.asarray(logits_fn(params, batch)), np.asarray(logits_fn(params, changed))
    others = np.arange(16) != t
    np.testing.assert_allclose(after[:, others], before[:, others], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(after[:, t, : k + 1], before[:, t, : k + 1], rtol=1e-5, atol=1e-4)
    assert np.abs(after[:, t, k + 1] - before[:, t, k + 1]).max() > 1e-3


def test_position_table_ranges_clipping_and_zero_y():
    config = tiny_config()
    module = network.PositionEmbedding(config)
    positions = jnp.array([[[3, 0], [127, 0], [500, 0], [3, 2], [3, 500]]])
    variables = module.init(jax.random.key(0), positions, jnp.array([0]))
    table = np.asarray(nn.meta.unbox(variables)["params"]["embedding"])
    assert table.shape == (config.num_positions, config.emb_dim)
    embed = lambda p, m: np.asarray(module.apply(variables, jnp.array([p]), jnp.array([m])))[0]  # noqa: E731
    lmx, image = embed(positions[0], Modality.LMX), embed(positions[0], Modality.IMAGE)
    y_start = sum(config.x_ranges)
    np.testing.assert_allclose(lmx[0], table[3])  # y = 0 adds nothing
    np.testing.assert_allclose(lmx[2], lmx[1])  # x clipped to the end of the LMX range
    np.testing.assert_allclose(lmx[3], table[3] + table[y_start + 2])  # E[x] + E[y]
    np.testing.assert_allclose(lmx[4], table[3] + table[y_start + config.max_image_rows - 1])
    image_start = config.max_lmx_positions + config.max_midi_positions
    np.testing.assert_allclose(image[0], table[image_start + 3])  # the image x range
    np.testing.assert_allclose(image[2], table[image_start + config.max_image_columns - 1])


def test_parameters_and_activations_carry_logical_axes_under_a_mesh(model, batch):
    """The partitioning pattern: eval_shape → logical specs → shardings → jitted init and forward.

    Lowering is enough to check every logical constraint against the mesh (no compile on CPU).
    """
    shapes = {"encoder_input_tokens": (1, 8, K), "decoder_input_tokens": (1, 8, K)}
    init = lambda rng: model.get_initial_variables(rng, shapes)  # noqa: E731
    rules = layers.standard_logical_axis_rules()
    mesh = jax.make_mesh((1, 1), ("data", "model"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        abstract = jax.eval_shape(init, jax.random.key(0))
        boxes = jax.tree.leaves(abstract, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
        assert boxes and all(isinstance(x, nn.LogicallyPartitioned) for x in boxes)
        names = {name for box in boxes for name in box.names}
        assert names <= {name for name, _ in rules}, names
        specs = nn.get_partition_spec(abstract)
        assert specs["params"]["token_embedder"]["embedding"] == jax.P("vocab", "embed")
        assert specs["params"]["sub_decoder"]["logits_kernel"] == jax.P("embed", "vocab")
        assert specs["params"]["decoder"]["layers_0"]["self_attention"]["query"]["kernel"] == jax.P(
            "embed", "heads", "kv")
        shardings = nn.logical_to_mesh_sharding(specs, mesh, rules)
        assert shardings["params"]["sub_decoder"]["logits_kernel"].spec == jax.P(None, "model")
        jax.jit(init, out_shardings=shardings).lower(jax.random.key(0))
    # (Unboxing under a mesh would apply the constraints to these abstract values.)
    params = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                          nn.meta.unbox(abstract), shardings)["params"]
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        lowered = jax.jit(model.logits).lower(params, batch).as_text()
    assert lowered.count("sharding_constraint") > 20  # the activation constraints reached the program


def _checkpoints(jaxpr) -> list:
    """Every remat (checkpoint) equation, searching nested jaxprs."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("checkpoint", "remat", "remat2"):
            found.append(eqn)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            found += _checkpoints(sub)
    return found


@pytest.mark.parametrize("policy", ["none", "full", "minimal"])
def test_remat_policy_wraps_every_layer(batch, policy):
    model = tiny_model(remat_policy=policy)
    params = jax.eval_shape(lambda: init_params(model))
    grads = jax.make_jaxpr(jax.grad(lambda p: model.loss_fn(p, batch, None)[0]))(params)
    found = _checkpoints(grads.jaxpr)
    config = model.module.config
    expected = 0 if policy == "none" else config.num_encoder_layers + config.num_decoder_layers
    assert len(found) == expected
    assert all(eqn.params["policy"] is network.REMAT_POLICIES[policy] for eqn in found)


def test_params_cast_to_the_compute_dtype_give_the_same_logits():
    """Decoding casts kernels and tables to bf16 once, before its loop; the network must read them as before,
    with LayerNorm's scale and bias still fp32."""
    model = tiny_model(dtype="bfloat16")
    params, batch = init_params(model), mixed_batch()
    cast = network.params_in_compute_dtype(params, model.module.config)
    dtypes = {jax.tree_util.keystr(path): leaf.dtype for path, leaf in jax.tree_util.tree_leaves_with_path(cast)}
    assert dtypes["['decoder']['layers_0']['mlp']['wi']['kernel']"] == jnp.bfloat16
    assert dtypes["['token_embedder']['embedding']"] == jnp.bfloat16
    assert dtypes["['decoder']['decoder_norm']['scale']"] == jnp.float32
    logits = jax.jit(model.logits)
    np.testing.assert_array_equal(np.asarray(logits(cast, batch)), np.asarray(logits(params, batch)))
