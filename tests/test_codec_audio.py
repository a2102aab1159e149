"""Audio codec (DAC-style generator), its discriminator and losses, at the tiny CPU size.

Compile time dominates on CPU, so: networks get host-made (numpy) weights of the same shapes and
scales as their initialisers (XLA compiles the ~100 random initialisers of a network for seconds;
the initialisers are checked by eval_shape and on a single WNConv), programs are compiled without
backend optimisation, and each test compiles one program.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mt_music.codecs import audio_codec, audio_losses, discriminators
from mt_music.codecs.quantizer import ResidualVectorQuantizer

SR = 44100
T = 4096  # 8 frames of 512 samples, 93 ms
BATCH = 2
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _jit(f, **kwargs):
    return jax.jit(f, compiler_options=FAST_COMPILE, **kwargs)


def _count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def _host_weights(tree, rng: np.random.Generator):
    """WNConv: v ~ U(±1/√fan_in), g = ‖v‖, b = 0; Snake: α = 1 (what the initialisers do)."""
    out = {}
    for name, value in tree.items():
        if isinstance(value, dict) and "scale" in value:
            shape = value["kernel"].shape
            kernel = rng.uniform(-1, 1, shape).astype(np.float32) / np.sqrt(np.prod(shape[:-1]))
            out[name] = {"kernel": kernel, "scale": np.linalg.norm(kernel.reshape(-1, shape[-1]), axis=0),
                         "bias": np.zeros(shape[-1], np.float32)}
        elif isinstance(value, dict):
            out[name] = _host_weights(value, rng)
        else:
            assert name == "alpha", name
            out[name] = np.ones(value.shape, np.float32)
    return out


def _codec_variables(model: audio_codec.AudioCodec, seed: int = 0):
    config = model.config
    rngs = {"params": jax.random.key(seed), "quantizer": jax.random.key(seed + 1)}
    shapes = jax.eval_shape(model.init, rngs, jnp.zeros((1, config.hop_length, 1)))
    quantizer = _jit(ResidualVectorQuantizer(config.quantizer).init)(rngs, jnp.zeros((1, config.latent_features)))
    rng = np.random.default_rng(seed)
    params = {name: _host_weights(shapes["params"][name], rng) for name in ("encoder", "decoder")}
    variables = {"params": {**params, "quantizer": quantizer["params"]}, "quantizer": {"quantizer": quantizer["quantizer"]}}
    assert jax.tree.structure(variables) == jax.tree.structure(shapes)
    return variables


def _tone(freq: float, length: int = T) -> np.ndarray:
    t = np.arange(length) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    noise = np.random.default_rng(0).normal(0, 0.05, (BATCH, T)).astype(np.float32)
    return (np.stack([_tone(440.0), _tone(1000.0)]) + noise)[..., None]


@pytest.fixture(scope="module")
def tiny_codec():
    model = audio_codec.AudioCodec(audio_codec.tiny_audio_codec_config())
    return model, _codec_variables(model)


def test_tiny_codec_shapes_hop_and_eval_consistency(tiny_codec, audio):
    model, variables = tiny_codec

    @_jit
    def run(variables, audio):
        reconstruction, q = model.apply(variables, audio)
        codes = model.apply(variables, audio, method=model.encode)
        decode = lambda c: model.apply(variables, c, method=model.decode)  # noqa: E731
        return reconstruction, q, codes, decode(codes), decode(codes[..., :2])

    reconstruction, q, codes, decoded, coarse = run(variables, audio)
    hop = model.config.hop_length
    assert hop == 512
    assert reconstruction.shape == decoded.shape == coarse.shape == (BATCH, T, 1)
    assert codes.shape == (BATCH, T // hop, 4) and codes.dtype == jnp.int32
    assert q.quantized.shape == (BATCH, T // hop, model.config.latent_features)
    np.testing.assert_array_equal(codes, q.codes)
    np.testing.assert_allclose(decoded, reconstruction, atol=1e-5)
    assert np.all(np.abs(reconstruction) <= 1.0) and np.std(reconstruction) > 0
    assert not np.allclose(coarse, decoded)  # fewer codebooks decode something else


def test_generator_gradients_are_finite_through_losses(tiny_codec, audio):
    model, variables = tiny_codec

    def loss_fn(params):
        (reconstruction, q), state = model.apply({"params": params, "quantizer": variables["quantizer"]}, audio,
                                                 train=True, rngs={"quantizer": jax.random.key(3)},
                                                 mutable=["quantizer"])
        loss = (15 * audio_losses.multi_scale_mel_loss(audio, reconstruction, SR)
                + audio_losses.multi_resolution_stft_loss(audio, reconstruction)
                + 0.25 * q.commitment_loss + q.codebook_loss)
        return loss, state

    (loss, state), grads = _jit(jax.value_and_grad(loss_fn, has_aux=True))(variables["params"])
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    flat = flax.traverse_util.flatten_dict(grads, sep="/")
    # Straight-through estimator: the encoder's first conv learns as well as the decoder and codebooks.
    for name in ("encoder/conv_in/kernel", "encoder/block_0_res_0/Snake_0/alpha", "decoder/conv_out/scale",
                 "quantizer/codebook"):
        assert float(jnp.abs(flat[name]).sum()) > 0, name
    assert jax.tree.structure(state["quantizer"]) == jax.tree.structure(variables["quantizer"])


def test_weight_norm_conv_init_and_invariance():
    conv = audio_codec.WNConv(6, (3,))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 10, 4)), jnp.float32)
    params = _jit(conv.init)(jax.random.key(0), x)["params"]
    apply = _jit(conv.apply)
    np.testing.assert_allclose(params["scale"], np.linalg.norm(params["kernel"].reshape(-1, 6), axis=0), rtol=1e-6)
    y = apply({"params": params}, x)
    assert y.shape == (1, 10, 6)  # "same" length at stride 1
    scaled = {**params, "kernel": params["kernel"] * 3.0}  # only the direction of v matters
    np.testing.assert_allclose(apply({"params": scaled}, x), y, rtol=1e-5, atol=1e-6)


def test_padding_gives_exact_lengths_for_odd_strides():
    for rates in ((3, 5), (2, 3, 7)):
        config = audio_codec.AudioCodecConfig(encoder_dim=4, encoder_rates=rates, decoder_dim=16,
                                              decoder_rates=tuple(reversed(rates)), latent_dim=8)
        model, length = audio_codec.AudioCodec(config), 3 * config.hop_length
        rngs = {"params": jax.random.key(0), "quantizer": jax.random.key(1)}
        (reconstruction, q), variables = jax.eval_shape(model.init_with_output, rngs, jnp.zeros((2, length, 1)))
        assert reconstruction.shape == (2, length, 1)
        assert q.codes.shape == (2, 3, config.quantizer.num_codebooks)
    with pytest.raises(ValueError, match="multiple of"):
        jax.eval_shape(model.apply, variables, jnp.zeros((2, length + 1, 1)))
    with pytest.raises(ValueError, match="same product"):
        audio_codec.AudioCodecConfig(decoder_rates=(8, 8, 4))


def test_base_parameter_counts_match_dac():
    rngs = {"params": jax.random.key(0), "quantizer": jax.random.key(1)}
    codec = audio_codec.AudioCodec(audio_codec.AudioCodecConfig())
    assert codec.config.hop_length == 512 and codec.config.latent_features == 1024
    params = jax.eval_shape(codec.init, rngs, jnp.zeros((1, 512, 1)))["params"]
    assert 74e6 < _count(params) < 78e6  # DAC 44.1 kHz: ≈ 76 M
    assert _count(params["quantizer"]) < 2e5  # factorized 8-dim codebooks are tiny
    disc = discriminators.AudioDiscriminator(discriminators.DiscriminatorConfig())
    assert 40e6 < _count(jax.eval_shape(disc.init, jax.random.key(0), jnp.zeros((1, 4096, 1)))) < 45e6


def test_discriminator_structure(audio):
    model = discriminators.AudioDiscriminator(discriminators.tiny_discriminator_config())
    config = model.config
    outputs = jax.eval_shape(model.init_with_output, jax.random.key(0), jnp.zeros((BATCH, T, 1)))[0]
    assert len(outputs) == len(config.periods) + len(config.window_lengths)
    for period, maps in zip(config.periods, outputs):
        assert len(maps) == 6
        rows = -(-T // period)  # reflect-padded up to a multiple of the period
        assert maps[0].shape == (BATCH, -(-rows // 3), period, config.channels)
        assert maps[-1].shape[-1] == 1 and maps[-1].shape[2] == period
    for window, maps in zip(config.window_lengths, outputs[len(config.periods):]):
        assert len(maps) == 5 * len(config.bands) + 1
        assert maps[-1].shape[:2] == (BATCH, T // (window // 4)) and maps[-1].shape[-1] == 1
    # Lists survive a JSON round trip of the config (codec specs store it).
    assert discriminators.DiscriminatorConfig(bands=[[0.0, 0.5], [0.5, 1.0]]).bands == ((0.0, 0.5), (0.5, 1.0))


def test_adversarial_gradients_are_finite(audio):
    # Fewer sub-discriminators than the tiny default: the same layers, half the compile time.
    model = discriminators.AudioDiscriminator(discriminators.tiny_discriminator_config(periods=(2, 3),
                                                                                       window_lengths=(512,)))
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, T, 1)))
    variables = {"params": _host_weights(shapes["params"], np.random.default_rng(1))}

    @_jit
    def run(variables, real, fake):
        def losses(variables, fake):
            maps = model.apply(variables, jnp.concatenate([real, fake]))  # one pass for both halves
            real_maps = jax.tree.map(lambda m: m[:BATCH], maps)
            fake_maps = jax.tree.map(lambda m: m[BATCH:], maps)
            generator = (audio_losses.generator_adversarial_loss(fake_maps)
                         + audio_losses.feature_matching_loss(real_maps, fake_maps))
            return generator + audio_losses.discriminator_loss(real_maps, fake_maps)
        return jax.value_and_grad(losses, argnums=(0, 1))(variables, fake)

    loss, (param_grads, audio_grads) = run(variables, audio, audio[::-1] * 0.5)
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves((param_grads, audio_grads)))
    assert float(jnp.abs(audio_grads).sum()) > 0  # the generator gets a signal through the discriminator
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(param_grads))


def test_stft_matches_a_centered_reference():
    x = _tone(440.0)[None]
    ours = np.asarray(audio_losses.stft(x, 512, 128))[0]
    padded = np.pad(x[0], 256, mode="reflect")
    frames = np.stack([padded[i * 128 : i * 128 + 512] for i in range(1 + T // 128)])
    np.testing.assert_allclose(ours, np.fft.rfft(frames * audio_losses.hann_window(512)), atol=2e-3)
    assert audio_losses.stft(x[..., None], 2048, 512, match_stride=True).shape == (1, T // 512, 1025)
    np.testing.assert_array_equal(audio_losses.mono(x[..., None]), audio_losses.mono(x))


def test_spectral_losses_vanish_on_identical_audio_and_track_the_target():
    target = _tone(440.0)
    noise = np.random.default_rng(1).normal(0, 0.2, T).astype(np.float32)
    scales = np.array([0.0, 1.0, 0.3, 0.1, 0.01], np.float32)
    estimates = target + scales[:, None] * noise

    @_jit
    def per_example(x, y):  # one compiled program for every comparison
        def both(x, y):
            return (audio_losses.multi_scale_mel_loss(x[None], y[None], SR),
                    audio_losses.multi_resolution_stft_loss(x[None, :, None], y[None, :, None]))
        return jax.vmap(both)(x, y)

    mel, stft = per_example(np.broadcast_to(target, estimates.shape), estimates)
    assert np.all(mel >= 0) and np.all(stft >= 0)
    assert mel[0] < 1e-6 and stft[0] < 1e-6  # identical audio
    assert stft[1] > 0.1
    assert mel[1] > mel[2] > mel[3] > mel[4] > 0  # closer to the target → smaller


def test_gan_losses():
    real = [[np.ones((2, 3, 4)), np.ones((2, 5, 1))], [np.full((2, 7), 0.5), np.ones((2, 2, 1))]]
    fake = [[np.zeros((2, 3, 4)), np.zeros((2, 5, 1))], [np.full((2, 7), 0.5), np.zeros((2, 2, 1))]]

    @_jit
    def values(real, fake):
        grad = jax.grad(lambda r: audio_losses.feature_matching_loss(r, fake))(real)
        return (audio_losses.discriminator_loss(real, fake), audio_losses.discriminator_loss(fake, real),
                audio_losses.generator_adversarial_loss(real), audio_losses.generator_adversarial_loss(fake),
                audio_losses.feature_matching_loss(real, real), audio_losses.feature_matching_loss(real, fake),
                sum(jnp.abs(g).sum() for g in jax.tree.leaves(grad)))

    d_optimum, d_worst, g_optimum, g_worst, fm_same, fm_different, fm_grad_to_real = map(float, values(real, fake))
    assert d_optimum == 0.0  # real → 1, fake → 0
    assert d_worst == 4.0  # each of the 2 terms × 2 discriminators
    assert g_optimum == 0.0 and g_worst == 2.0
    assert fm_same == 0.0 and fm_different == 1.0  # logits are left out
    assert fm_grad_to_real == 0.0  # real maps are targets, not trained towards the fakes
