"""Image RQ-VAE and its losses: shapes, eval-mode consistency, base size, input checks, loss design.

CPU compile time grows with the number of convolutions, so the codec tests share ONE jitted program
(eval forward, encode, decode and a train-mode gradient step, compiled at backend optimisation level 0)
run by a module fixture, and the parameters are filled in NumPy from `eval_shape` instead of compiling
the full init.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mt_music.codecs import image_losses, image_rqvae
from mt_music.codecs.quantizer import ResidualVectorQuantizer

CONFIG = image_rqvae.tiny_image_codec_config()
MODEL = image_rqvae.ImageRQVAE(CONFIG)
K = CONFIG.quantizer.num_codebooks
LOSSES = jax.jit(image_losses.reconstruction_losses)


def _staff(height=32, width=64, batch=1):
    """White paper (+1) with five 1-px staff lines, a stem and a note head in black (−1)."""
    image = np.ones((batch, height, width, 1), np.float32)
    for row in (8, 12, 16, 20, 24):
        image[:, row, :, 0] = -1.0
    image[:, 8:28, 40, 0] = -1.0
    image[:, 24:27, 36:41, 0] = -1.0
    return image


@pytest.fixture(scope="module")
def variables():
    """Fan-in-scaled normal kernels, unit norm scales, zero biases; the quantizer state from its own init."""
    shapes = jax.eval_shape(MODEL.init, {"params": jax.random.key(0), "quantizer": jax.random.key(1)},
                            jnp.zeros((1, 32, 64, 1)))
    rng = np.random.default_rng(0)

    def fill(path, leaf):
        name = path[-1].key
        if name == "kernel":
            return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1])), jnp.float32)
        return jnp.ones(leaf.shape) if name == "scale" else jnp.zeros(leaf.shape)

    params = jax.tree_util.tree_map_with_path(fill, shapes["params"])
    quantizer = ResidualVectorQuantizer(CONFIG.quantizer)
    state = jax.jit(quantizer.init)(jax.random.key(1), jnp.ones((1, CONFIG.embed_dim)))["quantizer"]
    return {"params": params, "quantizer": {"quantizer": state}}


@functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})  # halves CPU compile time
def _everything(variables, images):
    reconstruction, q = MODEL.apply(variables, images)
    codes = MODEL.apply(variables, images, method=MODEL.encode)
    decoded = MODEL.apply(variables, codes, method=MODEL.decode)

    def train_loss(params):
        (train_reconstruction, train_q), state = MODEL.apply(
            {"params": params, "quantizer": variables["quantizer"]}, images, train=True,
            rngs={"quantizer": jax.random.key(3)}, mutable=["quantizer"])
        losses = image_losses.reconstruction_losses(images, train_reconstruction)
        return losses["total"] + 0.25 * train_q.commitment_loss, state

    grads, state = jax.grad(train_loss, has_aux=True)(variables["params"])
    return dict(reconstruction=reconstruction, q=q, codes=codes, decoded=decoded, grads=grads, state=state)


@pytest.fixture(scope="module")
def outputs(variables):
    noise = 0.1 * jax.random.normal(jax.random.key(2), (2, 32, 64, 1))
    return _everything(variables, jnp.asarray(_staff(batch=2)) + noise)


def test_shapes_and_eval_mode_consistency(outputs):
    assert CONFIG.downsampling == 16
    assert outputs["reconstruction"].shape == outputs["decoded"].shape == (2, 32, 64, 1)
    assert outputs["codes"].shape == outputs["q"].codes.shape == (2, 2, 4, K)
    assert outputs["codes"].dtype == jnp.int32
    np.testing.assert_array_equal(outputs["codes"], outputs["q"].codes)
    np.testing.assert_allclose(outputs["decoded"], outputs["reconstruction"], atol=1e-5)


def test_train_step_gradients_finite_and_state_updates(variables, outputs):
    grads = jax.tree.map(np.asarray, outputs["grads"])  # NumPy: eager jnp ops would compile per shape
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert all(np.abs(g).max() > 0 for g in jax.tree.leaves(grads["encoder"]))  # straight-through estimator
    assert np.abs(grads["decoder"]["conv_out"]["kernel"]).max() > 0
    before = variables["quantizer"]["quantizer"]["codebook"]
    assert not np.allclose(before, outputs["state"]["quantizer"]["quantizer"]["codebook"])  # EMA moved


def test_base_config_parameter_count():
    config = image_rqvae.ImageCodecConfig()
    assert config.downsampling == 16 and config.quantizer.num_codebooks == 4
    assert config.quantizer.codebook_size == 1024 and config.quantizer.kind == "ema"
    shapes = jax.eval_shape(image_rqvae.ImageRQVAE(config).init,
                            {"params": jax.random.key(0), "quantizer": jax.random.key(1)}, jnp.zeros((1, 32, 32, 1)))
    count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))
    assert count == 64_513_409  # convs only: the EMA codebooks (4 × 1024 × 256) live in "quantizer"
    assert shapes["quantizer"]["quantizer"]["codebook"].shape == (4, 1024, 256)


@pytest.mark.parametrize("shape", [(1, 30, 64, 1), (1, 32, 72, 1), (1, 32, 64, 3), (32, 64, 1)])
def test_bad_input_shapes_raise(variables, shape):
    with pytest.raises(ValueError, match="multiples of 16|grayscale"):
        MODEL.apply(variables, jnp.ones(shape))


def test_losses_zero_for_identical_images():
    images = jnp.asarray(_staff())
    losses = LOSSES(images, images)
    assert set(losses) == {"mse", "ink", "gradient", "total"}
    for value in losses.values():
        assert float(value) == 0.0


def test_losses_prefer_keeping_ink_at_equal_mse():
    """Losing 16 px of one staff line (one token's worth) must cost more than spreading the same
    squared error thinly over the image, as pixel noise or as a uniform tint."""
    images = _staff()
    dropped = images.copy()
    dropped[:, 16, 8:24] = 1.0
    budget = np.mean(np.square(dropped - images))
    noise = np.random.default_rng(0).normal(size=images.shape).astype(np.float32)
    noisy = images + noise * np.sqrt(budget / np.mean(np.square(noise)))
    tinted = images - np.sqrt(budget)
    losses = {name: LOSSES(jnp.asarray(images), jnp.asarray(rec))
              for name, rec in [("dropped", dropped), ("noisy", noisy), ("tinted", tinted)]}
    for other in ("noisy", "tinted"):
        np.testing.assert_allclose(losses[other]["mse"], losses["dropped"]["mse"], rtol=1e-3)
        assert losses["dropped"]["ink"] > 3 * losses[other]["ink"]
        assert losses["dropped"]["total"] > 1.5 * losses[other]["total"]
    assert losses["tinted"]["gradient"] < 1e-6  # blind to smooth tints


def test_loss_gradients_finite():
    images = jnp.asarray(_staff())
    total_grad = jax.jit(jax.grad(lambda r: image_losses.reconstruction_losses(images, r)["total"]))
    for reconstruction in (images, images * 0.5, images + 3.0):  # identical, faded, out of range
        grad = total_grad(reconstruction)
        assert bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.abs(grad).max()) > 0
