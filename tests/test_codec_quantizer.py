"""Residual vector quantizer: round trips, exactness, residual refinement, gradients, EMA, restarts, dropout.

Compilation dominates on CPU, so each kind builds a handful of jitted programs (init, forward with all
decodes, gradients, train step, restart) once, at one input shape, and the tests share them.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mt_music.codecs.quantizer import QuantizerConfig, ResidualVectorQuantizer, restart_dead_codes

DIM, K, SIZE = 6, 3, 8
SHAPE = (16, 3, DIM)  # 16 examples, 48 vectors


def _build(kind):
    config = QuantizerConfig(
        num_codebooks=K, codebook_size=SIZE, kind=kind, codebook_dim=4 if kind == "factorized" else None
    )
    model = ResidualVectorQuantizer(config)
    z = jnp.asarray(_normal(1, SHAPE) * 2.0)
    variables = jax.jit(model.init)({"params": jax.random.key(0)}, z)
    return model, variables, z


@pytest.fixture(scope="module", params=["ema", "factorized"])
def built(request):
    return _build(request.param)


@pytest.fixture(scope="module")
def ema_built():
    """EMA-only behaviour (factorized codebooks train by gradient; the metrics code is shared)."""
    return _build("ema")


@functools.partial(jax.jit, static_argnames="model")
def _forward(model, variables, z):
    """(eval output, encode(z), [decode(codes[..., :n]) for n = 1..K])."""
    out = model.apply(variables, z)
    prefixes = [model.apply(variables, out.codes[..., :n], method="decode") for n in range(1, K + 1)]
    return out, model.apply(variables, z, method="encode"), prefixes


@functools.partial(jax.jit, static_argnames="model")
def _train_step(model, variables, z, seed):
    """(train output, updated variables, the state after an eval call with a mutable state)."""
    rngs = {"quantizer": jax.random.key(seed)}
    out, state = model.apply(variables, z, train=True, mutable=["quantizer"], rngs=rngs)
    _, eval_state = model.apply(variables, z, mutable=["quantizer"])
    return out, {**variables, **state}, eval_state["quantizer"]


@functools.partial(jax.jit, static_argnames="model")
def _gradients(model, variables, z, target):
    """Jacobian of [sum(quantized·target), commitment_loss, codebook_loss] w.r.t. (variables, z)."""

    def losses(variables, z):
        out = model.apply(variables, z)
        return jnp.stack([jnp.sum(out.quantized * target), out.commitment_loss, out.codebook_loss])

    return jax.jacrev(losses, argnums=(0, 1))(variables, z)


_restart = jax.jit(restart_dead_codes)


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _numpy(tree):
    return jax.tree.map(np.asarray, tree)


def _set(variables, collection, **values):
    return {**variables, collection: {**variables[collection], **values}}


def test_encode_decode_round_trip_and_shapes(built):
    model, variables, z = built
    out, codes, prefixes = _numpy(_forward(model, variables, z))
    assert out.quantized.shape == z.shape and out.codes.shape == (*SHAPE[:2], K) and out.codes.dtype == np.int32
    assert out.usage.shape == out.perplexity.shape == (K,) and all(p.shape == z.shape for p in prefixes)
    np.testing.assert_array_equal(codes, out.codes)
    np.testing.assert_allclose(prefixes[-1], out.quantized, atol=1e-5)


def test_codebook_containing_inputs_quantizes_exactly(built):
    model, variables, _ = built
    points = _normal(3, (SIZE, DIM))  # pairwise non-parallel
    if model.config.kind == "ema":  # later stages hold a zero code for the zero residual
        codebook = np.zeros((K, SIZE, DIM), np.float32)
        codebook[0], codebook[1:, 1:] = points, 1.0
        variables = _set(variables, "quantizer", codebook=codebook)
    else:  # stage 0 looks up in the input space itself; later stages project to zero
        p = _numpy(variables["params"])
        points[:, 4:] = 0.0
        in_kernel, out_kernel, codebook = p["in_kernel"].copy(), np.zeros_like(p["out_kernel"]), p["codebook"].copy()
        in_kernel[0], out_kernel[0], codebook[0] = np.eye(DIM, 4), np.eye(4, DIM), points[:, :4]
        variables = _set(variables, "params", in_kernel=in_kernel, out_kernel=out_kernel, codebook=codebook)
    order = np.arange(48)[::-1] % SIZE
    out = _numpy(_forward(model, variables, points[order].reshape(SHAPE))[0])
    np.testing.assert_array_equal(out.codes[..., 0].reshape(-1), order)
    np.testing.assert_allclose(out.quantized.reshape(-1, DIM), points[order], atol=1e-6)
    if model.config.kind == "ema":  # (factorized later stages still commit their zero input to a code)
        assert out.commitment_loss < 1e-10


def test_residual_stages_reduce_error_monotonically(ema_built):
    model, variables, z = ema_built
    for seed in range(6):
        variables = _train_step(model, variables, z, seed)[1]
    z, prefixes = np.asarray(z), _numpy(_forward(model, variables, z)[2])
    errors = [np.mean(np.sum(z**2, -1))] + [np.mean(np.sum((z - p) ** 2, -1)) for p in prefixes]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors


def test_gradients(built):
    model, variables, z = built
    target = _normal(5, z.shape)
    grads, grad_z = _numpy(_gradients(model, variables, z, target))
    assert np.all(np.isfinite(grad_z)) and np.abs(grad_z[0]).sum() > 0  # straight-through reaches z
    if model.config.kind == "ema":  # identity straight-through; the codebook in "quantizer" gets nothing
        np.testing.assert_allclose(grad_z[0], target, atol=1e-6)
        assert np.all(grads["quantizer"]["codebook"] == 0)
        return
    p = grads["params"]
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(p))
    assert np.abs(p["codebook"][2]).sum() > 0 and np.all(p["in_kernel"][2] == 0)  # codebook loss: codebook only
    assert np.abs(p["in_kernel"][1]).sum() > 0 and np.all(p["codebook"][1] == 0)  # commitment: encoder side only
    assert all(np.abs(p[name][0]).sum() > 0 for name in ("in_kernel", "out_kernel", "out_bias"))


def test_train_step_updates_ema_and_usage(built):
    model, variables, z = built
    codes = np.asarray(_forward(model, variables, z)[1][..., 0]).reshape(-1)
    used, unused = np.unique(codes), np.setdiff1d(np.arange(SIZE), codes)
    _, updated, eval_state = _numpy(_train_step(model, variables, z, 0))
    variables, z = _numpy(variables), np.asarray(z)
    for name, value in variables["quantizer"].items():  # eval mode leaves the state alone
        np.testing.assert_array_equal(eval_state[name], value)
    usage = updated["quantizer"]["usage"][0]  # relative to the uniform share, which it starts at
    np.testing.assert_allclose(usage[unused], 0.99, rtol=1e-6)
    np.testing.assert_allclose(usage.sum(), SIZE, rtol=1e-5)  # a decayed average of distributions
    if model.config.kind == "factorized":
        np.testing.assert_array_equal(updated["params"]["codebook"], variables["params"]["codebook"])
        return
    flat, before, after = z.reshape(-1, DIM), variables["quantizer"]["codebook"][0], updated["quantizer"]["codebook"][0]
    for code in used:
        mean = flat[codes == code].mean(0)
        assert np.linalg.norm(after[code] - mean) < np.linalg.norm(before[code] - mean)
    np.testing.assert_allclose(after[unused], before[unused], rtol=1e-4)
    assert all(np.any(np.all(flat == c, -1)) for c in updated["quantizer"]["candidates"][0])


def test_usage_and_perplexity_on_known_assignment(ema_built):
    model, variables, _ = ema_built
    points = _normal(6, (SIZE, DIM)) * 5.0
    variables = _set(variables, "quantizer", codebook=np.broadcast_to(points, (K, SIZE, DIM)).copy())
    assignment = np.repeat([0, 0, 0, 1], 12)
    out = _numpy(_forward(model, variables, (points[assignment] + 0.01).reshape(SHAPE))[0])
    np.testing.assert_array_equal(out.codes[..., 0].reshape(-1), assignment)
    np.testing.assert_allclose(out.usage[0], 2 / SIZE)
    np.testing.assert_allclose(out.perplexity[0], np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))), rtol=1e-6)
    out = _numpy(_forward(model, variables, points[np.arange(48) % SIZE].reshape(SHAPE))[0])
    np.testing.assert_allclose(out.usage[0], 1.0)
    np.testing.assert_allclose(out.perplexity[0], SIZE, rtol=1e-6)


def test_restart_replaces_only_dead_codes_and_is_jittable(built):
    model, variables, z = built
    params = variables.get("params", {})
    _, _, none_yet = _restart(params, variables["quantizer"], jax.random.key(0))
    assert int(none_yet) == 0  # usage starts at the uniform share: no restart before the warm-up

    _, variables, _ = _train_step(model, variables, z, 0)
    dead = np.zeros((K, SIZE), bool)
    dead[0, [1, 5]] = dead[2, 7] = True
    state = {**variables["quantizer"], "usage": np.where(dead, 0.01, 0.5).astype(np.float32)}
    new_params, new_state, count = _numpy(_restart(params, state, jax.random.key(7)))
    params, state = _numpy((params, state))
    assert count == 3 and count.dtype == np.int32
    ema = model.config.kind == "ema"
    old, new = (state, new_state) if ema else (params, new_params)
    np.testing.assert_array_equal(new["codebook"][~dead], old["codebook"][~dead])
    for k, j in zip(*np.nonzero(dead)):
        assert np.any(np.all(new["codebook"][k, j] == state["candidates"][k], -1))
    np.testing.assert_array_equal(new_state["usage"], np.where(dead, 1.0, 0.5))
    if ema:  # the EMA statistics agree with the restarted codebook
        ratio = new_state["embed_sum"] / new_state["cluster_size"][..., None]
        np.testing.assert_allclose(ratio[dead], new["codebook"][dead], rtol=1e-5)


def test_quantizer_dropout_uses_partial_sums(built):
    model, variables, z = built
    dropping = ResidualVectorQuantizer(dataclasses.replace(model.config, dropout_probability=1.0))
    out = _numpy(_train_step(dropping, variables, z, 9)[0])
    eval_out, _, prefixes = _numpy(_forward(model, variables, z))
    np.testing.assert_array_equal(out.codes, eval_out.codes)  # dropped stages still report their codes
    used = []
    for b in range(SHAPE[0]):
        matches = [n for n in range(1, K + 1) if np.allclose(prefixes[n - 1][b], out.quantized[b], atol=1e-5)]
        assert matches, f"example {b} is no partial sum"
        used.append(matches[0])
    assert min(used) < K and len(set(used)) > 1
