"""EncoderDecoderModel: gin configs, parameter counts, overfitting, metrics, scoring, FLOPs."""

import json
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from model_testing import K, mixed_batch, tiny_config, vocabulary

from mt_music.model import flops, losses, models, network

# Runs in a fresh interpreter outside the checkout: the checkout's top-level gin/
# folder (installed as mt_music.gin_configs) would shadow gin-config from there.
GIN_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np, flax.linen as nn
    from mt_music.model import decoding, flops, layers, losses, models, network
    core_imports = sorted(m for m in ("tensorflow", "seqio", "gin") if m in sys.modules)
    import gin
    from mt_music.training import gin_paths
    for path in gin_paths.gin_search_paths():
        gin.add_config_file_search_path(str(path))
    report = {"core_imports": core_imports, "params": {}}
    shapes = {"encoder_input_tokens": (2, 16, 4), "decoder_input_tokens": (2, 8, 4)}
    for size in ("tiny", "small", "base", "large"):
        gin.clear_config()
        gin.parse_config_files_and_bindings([f"models/{size}.gin"], [])
        model = gin.query_parameter("%MODEL").scoped_configurable_fn()
        assert isinstance(model, models.EncoderDecoderModel)
        variables = jax.eval_shape(lambda: model.get_initial_variables(jax.random.key(0), shapes))
        report["params"][size] = int(sum(np.prod(x.shape) for x in jax.tree.leaves(nn.meta.unbox(variables))))
        if size == "tiny":
            report["tiny_config"] = repr(model.module.config)
            batch = model.dummy_batch(shapes)
            loss, metrics = jax.eval_shape(model.loss_fn, nn.meta.unbox(variables)["params"], batch, None)
            report["tiny_loss_shape"] = list(loss.shape)
    print(json.dumps(report))
""")


def test_gin_configs_build_the_model_and_base_has_039b_parameters(tmp_path):
    result = subprocess.run([sys.executable, "-c", GIN_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["core_imports"] == []  # the model core needs neither TensorFlow, SeqIO nor gin
    assert report["tiny_config"] == repr(tiny_config())  # tests/model_testing.py mirrors tiny.gin
    assert report["tiny_loss_shape"] == []
    counts = report["params"]
    print("parameters:", counts)
    assert 0.38e9 < counts["base"] < 0.40e9
    assert counts["tiny"] < counts["small"] < counts["base"] < counts["large"]


@pytest.fixture(scope="module")
def batch():
    return {name: jnp.asarray(value) for name, value in mixed_batch().items()}


def test_overfits_a_mixed_modality_batch(model, params, batch):
    optimizer = optax.adamw(3e-3, b1=0.9, b2=0.95, weight_decay=0.01)

    @jax.jit
    def train_step(params, state):
        (loss, metrics), grads = jax.value_and_grad(model.loss_fn, has_aux=True)(params, batch, None)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss, metrics

    state = optimizer.init(params)
    first = None
    for _ in range(150):
        params, state, loss, metrics = train_step(params, state)
        first = float(loss) if first is None else first
        if loss < 0.05:
            break
    assert first > 5.0 and float(loss) < 0.05, (first, float(loss))
    assert float(metrics["accuracy"]) == 1.0


def test_eval_metrics_scores_and_label_smoothing(model, params, batch):
    """Metrics add up, padding is ignored, score_batch and smoothing agree with the logits."""
    smoothed = models.EncoderDecoderModel(model.module, vocabulary(), label_smoothing=0.1)
    padded = dict(batch)  # garbage in the decoder inputs after each example's end
    after_end = (batch["decoder_target_tokens"][..., 0] == 0)[..., None]
    padded["decoder_input_tokens"] = jnp.where(after_end, 4321, batch["decoder_input_tokens"])

    @jax.jit
    def run(params):
        return (model.eval_fn(params, batch), model.eval_fn(params, padded)[0], model.score_batch(params, batch),
                smoothed.eval_fn(params, batch)[0], model.logits(params, batch))

    (loss, metrics), padded_loss, scores, smoothed_loss, logits = run(params)
    np.testing.assert_allclose(padded_loss, loss, rtol=1e-6)

    targets = np.asarray(batch["decoder_target_tokens"])
    weights = targets != 0
    assert metrics["num_tokens"] == metrics["weight_sum"] == weights.sum()
    np.testing.assert_allclose(metrics["loss"], metrics["loss_sum"] / metrics["weight_sum"], rtol=1e-6)
    np.testing.assert_array_equal(metrics["weight_per_slot_sum"], weights.sum((0, 1)))
    np.testing.assert_allclose(metrics["task_loss_sum"].sum(), metrics["loss_sum"], rtol=1e-5)
    np.testing.assert_array_equal(metrics["task_weight_sum"][:4], weights.sum((1, 2)))
    assert metrics["task_weight_sum"][4:].sum() == 0 and metrics["task_num_examples"][:4].tolist() == [1] * 4
    assert 0 < metrics["z_loss"] < 0.1 * metrics["loss"]

    picked = np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)), targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(scores, (picked * weights).sum((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(-scores.sum(), metrics["loss_sum"] - metrics["z_loss_sum"], rtol=1e-5)

    valid = model.tables.logit_mask[np.asarray(batch["decoder_modality"])][:, None]
    expected = losses.weighted_cross_entropy(logits, targets, weights, valid=valid, label_smoothing=0.1,
                                             z_loss=model.z_loss)
    assert np.isfinite(smoothed_loss) and smoothed_loss != loss
    np.testing.assert_allclose(smoothed_loss, expected[0] / expected[2], rtol=1e-5)


def test_analytic_flops_match_xla_cost_analysis():
    """Matmul-only analytic count vs XLA's count (which adds norms, softmax, GELU …)."""
    config = tiny_config(vocab_size=512)  # keep the vocabulary projection from dominating
    module = network.Transformer(config)
    b, le, ld = 2, 48, 32
    ones = lambda *shape: jnp.ones(shape, jnp.int32)  # noqa: E731
    args = (ones(b, le, K), ones(b, le, 2), ones(b), ones(b, ld, K), ones(b, ld, K), ones(b, ld, 2), ones(b))
    params = jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.key(0), *args))["params"])

    def forward(p):
        return module.apply({"params": p}, *args)

    def train(p):
        return losses.weighted_cross_entropy(forward(p), args[4], jnp.ones(args[4].shape))[0]

    def xla_flops(fn):
        cost = jax.jit(fn).lower(params).compile().cost_analysis()
        return (cost[0] if isinstance(cost, list) else cost)["flops"]

    analytic = flops.forward_flops(config, le, ld)
    forward_ratio = xla_flops(forward) / (b * analytic["total"])
    train_ratio = xla_flops(jax.grad(train)) / flops.train_step_flops(config, b, le, ld)
    print(f"analytic forward {b * analytic['total']:.3e}; XLA/analytic forward {forward_ratio:.3f}, "
          f"train {train_ratio:.3f}")
    assert 1.0 <= forward_ratio < 1.15 and 1.0 <= train_ratio < 1.15
    assert flops.mfu(flops.train_step_flops(config, b, le, ld), 1.0, peak_flops=1e9) == pytest.approx(
        flops.train_step_flops(config, b, le, ld) / 1e9)
