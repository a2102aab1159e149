"""Cross-entropy, label smoothing over the allowed ids, z-loss: values against hand computation."""

import jax.numpy as jnp
import numpy as np
import pytest

from mt_music.model import losses

NEG = -1e10


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


def test_cross_entropy_matches_hand_computation():
    logits = jnp.array([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0]])
    targets = jnp.array([2, 0])
    loss, z = losses.token_cross_entropy(logits, targets)
    expected = [np.log(np.e + np.e**2 + np.e**3) - 3.0, np.log(2 * np.exp(0.5) + np.exp(-1.0)) - 0.5]
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_array_equal(z, 0.0)


def test_weights_ignore_pad_targets():
    logits = jnp.array([[1.0, 2.0, 3.0], [9.0, -9.0, 0.0]])
    targets = jnp.array([2, 0])  # the second token is PAD
    weights = (targets != 0).astype(jnp.float32)
    loss_sum, z_sum, weight_sum = losses.weighted_cross_entropy(logits, targets, weights)
    assert weight_sum == 1.0 and z_sum == 0.0
    np.testing.assert_allclose(loss_sum, np.log(np.e + np.e**2 + np.e**3) - 3.0, rtol=1e-6)
    # Whatever the model says at PAD positions does not move the loss.
    changed = logits.at[1].set(jnp.array([-5.0, 7.0, 1.0]))
    np.testing.assert_allclose(losses.weighted_cross_entropy(changed, targets, weights)[0], loss_sum)


def test_z_loss_is_squared_log_partition():
    logits = jnp.array([[1.0, 2.0, 3.0]])
    loss, z = losses.token_cross_entropy(logits, jnp.array([1]), z_loss=1e-2)
    log_z = np.log(np.e + np.e**2 + np.e**3)
    np.testing.assert_allclose(z, [1e-2 * log_z**2], rtol=1e-6)
    np.testing.assert_allclose(loss, [log_z - 2.0 + 1e-2 * log_z**2], rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_label_smoothing_spreads_over_allowed_ids_only(alpha):
    """KL to (1-α)·onehot + α/(n-1) on the other allowed ids; masked ids get nothing."""
    raw = np.array([[0.3, -1.2, 2.0, 0.7, 1.1], [1.0, 0.0, -0.5, 0.2, 0.4]])
    valid = np.array([[True, False, True, True, False], [True, True, True, True, True]])
    targets = np.array([2, 4])
    logits = np.where(valid, raw, NEG)
    loss, _ = losses.token_cross_entropy(jnp.asarray(logits, jnp.float32), jnp.asarray(targets),
                                         valid=jnp.asarray(valid), label_smoothing=alpha)
    for i in range(2):
        n = valid[i].sum()
        q = np.where(valid[i], alpha / (n - 1), 0.0)
        q[targets[i]] = 1 - alpha
        logp = _log_softmax(raw[i][valid[i]])
        kl = np.sum(q[valid[i]] * (np.log(q[valid[i]]) - logp))
        np.testing.assert_allclose(loss[i], kl, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(loss))


def test_label_smoothing_loss_is_zero_at_the_smoothed_target():
    alpha, n = 0.2, 4
    q = np.full(n, alpha / (n - 1))
    q[1] = 1 - alpha
    loss, _ = losses.token_cross_entropy(jnp.log(jnp.asarray(q, jnp.float32))[None], jnp.array([1]),
                                         label_smoothing=alpha)
    np.testing.assert_allclose(loss, [0.0], atol=1e-6)
