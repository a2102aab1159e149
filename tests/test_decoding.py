"""Cached frame-by-frame decoding: forced slots, sampling, image positions, greedy = teacher-forced argmax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_testing import K, audio, image_output, init_params, lmx, make_batch, midi, vocabulary

from mt_music.image import grids
from mt_music.model import decoding
from mt_music.vocabulary import PAD_ID, Modality

MAX_LENGTH = 12


@pytest.fixture(scope="module")
def params(model):  # another seed than conftest's: the decoding checks see other argmax paths
    return init_params(model, seed=1)


def test_tables_force_the_non_sampled_slots(model):
    voc, tables = vocabulary(), model.tables
    assert tables.forced.shape == (4, model.module.config.vocab_size, K - 1)
    some_lmx = voc.encode_lmx(["clef:G2"], add_eos=False)[0, 0]
    np.testing.assert_array_equal(tables.forced[Modality.LMX, some_lmx], 0)
    np.testing.assert_array_equal(tables.forced[Modality.IMAGE, voc.sep_id], 0)
    np.testing.assert_array_equal(tables.forced[Modality.IMAGE, voc.height_id(7)], 0)
    for modality in (Modality.IMAGE, Modality.AUDIO):
        np.testing.assert_array_equal(tables.forced[modality, voc.eos_id(modality)], voc.eos_frame(modality)[1:])
        code = voc.encode_audio(np.zeros((1, K), int))[0, 0] if modality is Modality.AUDIO else voc.image_blocks[0].start
        np.testing.assert_array_equal(tables.forced[modality, code], -1)


def test_image_positions_on_the_fly_equal_join_systems_for_output():
    rng = np.random.default_rng(0)
    voc = vocabulary()
    tables = decoding.DecodingTables.from_vocabulary(voc)
    frames, positions = image_output([(3, 4), (2, 3), (5, 2)], rng)  # frames end with EOS
    lines = voc.encode_lmx(["measure"] * 5)
    batch = np.zeros((2, len(frames), K), np.int32)
    batch[0], batch[1, : len(lines)] = frames, lines
    got = np.asarray(decoding.decoder_positions(batch, jnp.array([Modality.IMAGE, Modality.LMX]), tables))
    np.testing.assert_array_equal(got[0, 0], [0, 0])  # SOS
    np.testing.assert_array_equal(got[0, 1:], positions)  # input t sits where output frame t-1 sits
    np.testing.assert_array_equal(got[1], np.stack([np.arange(len(frames)), np.zeros(len(frames))], 1))


def test_sample_slot_greedy_top_k_top_p():
    rng = jax.random.key(0)
    logits = jnp.array([[0.0, 3.0, 2.9, -1e10, 1.0]] * 256)
    ones, zeros = jnp.ones(256), jnp.zeros(256)
    assert np.all(decoding.sample_slot(logits, rng, zeros) == 1)
    assert np.all(decoding.sample_slot(logits, rng, ones, top_k=1) == 1)
    assert np.all(decoding.sample_slot(logits, rng, ones, top_p=jnp.full(256, 1e-3)) == 1)
    top2 = np.asarray(decoding.sample_slot(logits, rng, ones, top_k=2))
    assert set(top2) == {1, 2}
    free = np.asarray(decoding.sample_slot(logits, rng, ones * 2.0))
    assert 3 not in set(free) and len(set(free)) == 4  # masked id never drawn


def _prefixes():
    """Per example: forced first frames (PAD rows end a prefix)."""
    voc = vocabulary()
    image = np.array([voc.height_id(2)] + [0] * (K - 1))[None]
    codes = voc.encode_image(np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]))
    sep = np.array([voc.sep_id] + [0] * (K - 1))[None]
    height3 = np.array([voc.height_id(3)] + [0] * (K - 1))[None]
    image_prefix = np.concatenate([image, codes, sep, height3, codes[:1]])  # 2 columns, SEP, a new system
    audio_prefix = voc.encode_audio(np.arange(8).reshape(2, K))  # audio continuation
    midi_prefix = voc.encode_midi([5, 140])  # ... then EOS: this example must stop after 3 frames
    prefix = np.zeros((4, len(image_prefix), K), np.int32)
    prefix[1], prefix[2, :2], prefix[3, :3] = image_prefix, audio_prefix, midi_prefix
    return prefix, np.array([0, len(image_prefix), 2, 3])


@pytest.fixture(scope="module")
def decode_batch():
    rng = np.random.default_rng(3)
    examples = [
        (Modality.AUDIO, audio(9, rng), Modality.LMX, lmx(3)),
        (Modality.LMX, lmx(7), Modality.IMAGE, image_output([(2, 2)], rng)),
        (Modality.MIDI, midi(8, rng), Modality.AUDIO, audio(2, rng)),
        (Modality.IMAGE, (vocabulary().encode_image(rng.integers(0, 1024, (6, K))), np.ones((6, 2), int)),
         Modality.MIDI, midi(2, rng)),
    ]
    batch = make_batch(examples, encoder_length=12, decoder_length=MAX_LENGTH)
    prefix, prefix_lengths = _prefixes()
    batch["decoder_prefix_tokens"] = prefix
    return batch, prefix_lengths


def test_greedy_decoding_reproduces_teacher_forced_argmax(model, params, decode_batch):
    """Feeding the greedy output back as teacher-forced targets gives the same argmaxes."""
    batch, prefix_lengths = decode_batch
    frames, aux = model.predict_batch_with_aux(params, batch)
    frames, aux = np.asarray(frames), jax.tree.map(np.asarray, aux)
    modality = batch["decoder_modality"]
    np.testing.assert_array_equal(aux["positions"], decoding.decoder_positions(frames, modality, model.tables))
    for b in (0, 2, 3):  # 1-D and audio outputs: input t sits at (t, 0)
        np.testing.assert_array_equal(aux["positions"][b, : aux["lengths"][b], 0], np.arange(aux["lengths"][b]))
        assert np.all(aux["positions"][b, :, 1] == 0)
    forced_batch = dict(batch)
    sos = model.tables.sos[modality][:, None]
    forced_batch.update(decoder_input_tokens=np.concatenate([sos, frames[:, :-1]], 1),
                        decoder_target_tokens=frames, decoder_positions=aux["positions"])
    logits = np.asarray(model.logits(params, forced_batch))
    log_probs = np.asarray(jax.nn.log_softmax(logits))

    compared = 0
    for b in range(len(frames)):
        score = 0.0
        for t in range(prefix_lengths[b], aux["lengths"][b]):
            forced = model.tables.forced[modality[b], frames[b, t, 0]]
            for k in range(K):
                if k > 0 and forced[k - 1] >= 0:
                    assert frames[b, t, k] == forced[k - 1]
                    continue
                assert np.argmax(logits[b, t, k]) == frames[b, t, k], (b, t, k)
                score += log_probs[b, t, k, frames[b, t, k]]
                compared += 1
        np.testing.assert_allclose(aux["scores"][b], score, rtol=1e-4, atol=1e-4)
    assert compared > 60
    # The image example ran the cursor through heights, a wrapped column and SEP.
    np.testing.assert_array_equal(aux["positions"][1, :10], [[0, 0], [0, 0], [0, 1], [0, 2], [1, 1], [1, 2],
                                                             [2, 0], [3, 0], [3, 1], [3, 2]])
    # Prefixes are kept; each example stops at its EOS and emits PAD afterwards.
    np.testing.assert_array_equal(frames[:, 0][1:], batch["decoder_prefix_tokens"][1:, 0])  # prefixes kept
    assert aux["lengths"][3] == 3  # the MIDI prefix ends with EOS
    assert np.all(frames[3, 3:] == PAD_ID)
    for b, length in enumerate(aux["lengths"]):
        assert np.all(frames[b, length:] == PAD_ID)
        ended = frames[b, length - 1, 0] == vocabulary().eos_id(Modality(int(batch["decoder_modality"][b])))
        assert ended or length == MAX_LENGTH


def test_sampling_emits_only_allowed_or_forced_ids(model, params, decode_batch):
    batch = decode_batch[0]
    mask, modality = model.tables.logit_mask, batch["decoder_modality"]
    kwargs = dict(temperature=[0.5, 1.0, 1.0, 1.0], top_p=[0.9, 1.0, 1.0, 0.95], top_k=0)
    frames, aux = model.predict_batch_with_aux(params, batch, jax.random.key(7), **kwargs)
    again, _ = model.predict_batch_with_aux(params, batch, jax.random.key(7), **kwargs)
    np.testing.assert_array_equal(frames, again)  # same key, same draw
    frames = np.asarray(frames)
    for b, length in enumerate(np.asarray(aux["lengths"])):
        for t in range(length):
            frame, m = frames[b, t], modality[b]
            assert mask[m, 0, frame[0]]
            forced = model.tables.forced[m, frame[0]]
            for k in range(1, K):
                assert frame[k] == forced[k - 1] if forced[k - 1] >= 0 else mask[m, k, frame[k]]
    assert grids.ROW_Y_OFFSET == 1  # the y convention the cursor follows


def _equations(jaxpr, inside_loops: bool) -> list:
    """Equations of a jaxpr and of the jaxprs nested in it; loop bodies only if `inside_loops`."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        if eqn.primitive.name != "while" or inside_loops:
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                found += _equations(sub, inside_loops)
    return found


def test_decoding_is_one_device_loop_with_the_k_slot_steps_inside(model, params, decode_batch):
    """The whole decode is one while loop on the device: no host callback, and each iteration projects
    the K slots to the vocabulary (the sub-decoder steps run inside, not as a host loop per frame)."""
    batch = {name: jnp.asarray(value) for name, value in decode_batch[0].items()}
    closed = jax.make_jaxpr(lambda p, b: model.predict_batch_with_aux(p, b, jax.random.key(0), temperature=1.0))(
        params, batch)
    loops = [eqn for eqn in _equations(closed.jaxpr, inside_loops=False) if eqn.primitive.name == "while"]
    assert len(loops) == 1
    everything = _equations(closed.jaxpr, inside_loops=True)
    assert not [eqn for eqn in everything if "callback" in eqn.primitive.name]
    vocab = model.module.config.vocab_size
    body = _equations(loops[0].params["body_jaxpr"].jaxpr, inside_loops=True)
    projections = [eqn for eqn in body if eqn.primitive.name == "dot_general"
                   and eqn.outvars[0].aval.shape[-1] == vocab]
    assert len(projections) == K


def test_sample_slot_draws_what_categorical_draws_and_argmax_at_temperature_0():
    """One argmax serves both: sampled rows equal jax.random.categorical with the same key, greedy rows argmax."""
    logits = jax.random.normal(jax.random.key(1), (64, 300)) * 3
    temperature = jnp.where(jnp.arange(64) % 2 == 0, 0.0, 0.7)
    ids = np.asarray(decoding.sample_slot(logits, jax.random.key(2), temperature))
    expected = np.where(np.arange(64) % 2 == 0, np.argmax(logits, -1),
                        jax.random.categorical(jax.random.key(2), logits / 0.7, axis=-1))
    np.testing.assert_array_equal(ids, expected)
