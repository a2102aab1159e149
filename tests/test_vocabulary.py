"""The unified vocabulary: layout, per-modality round trips, masks, forced slots."""

import numpy as np
import pytest

from mt_music.image import grids
from mt_music.lmx.vocabulary import LMX_TOKENS
from mt_music.midi import MidiEventCodec
from mt_music.vocabulary import PAD_ID, Modality, UnifiedVocabulary, VocabularyConfig


@pytest.fixture(scope="module")
def vocab():
    return UnifiedVocabulary()


def test_layout_sizes_match_the_design(vocab):
    midi = MidiEventCodec(max_shift_steps=2000)
    assert len(LMX_TOKENS) == 224
    assert vocab.lmx_block.size == 3 + 224
    assert vocab.midi_block.size == midi.vocab_size == 3 + 2001 + 128 + 2 + 1 + 128 + 128
    assert [b.size for b in vocab.image_blocks] == [1024 + 3] * 4
    assert [b.size for b in vocab.audio_blocks] == [1024 + 2] * 4
    assert vocab.height_block.size == 26
    expected = 1 + 227 + midi.vocab_size + 4 * 1027 + 4 * 1026 + 26 + 1
    assert vocab.vocab_size == expected
    assert vocab.padded_vocab_size(128) % 128 == 0 and vocab.padded_vocab_size(128) >= expected


def test_blocks_tile_the_id_space_without_gaps(vocab):
    blocks = [vocab.lmx_block, vocab.midi_block, *vocab.image_blocks, *vocab.audio_blocks, vocab.height_block]
    assert blocks[0].start == PAD_ID + 1
    for before, after in zip(blocks, blocks[1:]):
        assert before.stop == after.start
    assert vocab.sep_id == blocks[-1].stop == vocab.vocab_size - 1
    names = {vocab.id_to_string(i) for i in range(vocab.vocab_size)}
    assert len(names) == vocab.vocab_size, "every id has a distinct readable name"


def test_config_changes_every_size():
    small = UnifiedVocabulary(VocabularyConfig(num_slots=2, image_codebook_size=16, audio_codebook_size=8,
                                               midi_max_shift_steps=2000, image_max_rows=4))
    assert small.midi_block.size == MidiEventCodec(max_shift_steps=2000).vocab_size
    assert [b.size for b in small.image_blocks] == [19, 19]
    assert [b.size for b in small.audio_blocks] == [10, 10]
    assert small.height_block.size == 4
    assert small.logit_mask().shape == (4, 2, small.vocab_size)
    with pytest.raises(ValueError, match="positive int"):
        VocabularyConfig(num_slots=0)


def test_lmx_round_trip_and_unknown_tokens(vocab):
    tokens = ["measure", "key:fifths:0", "clef:G2", "C4", "voice:1", "quarter", "not-a-token"]
    frames = vocab.encode_lmx(tokens)
    assert frames.shape == (len(tokens) + 1, 4)
    assert np.all(frames[:, 1:] == PAD_ID)
    assert frames[-1, 0] == vocab.eos_id("lmx")
    assert vocab.id_to_string(frames[-2, 0]) == "lmx:UNK"
    decoded, skipped = vocab.decode_lmx(frames)
    assert decoded == tokens[:-1] and skipped == 1


def test_midi_round_trip_keeps_native_ids(vocab):
    codec = vocab.config.midi_codec
    native = np.arange(3, codec.vocab_size)
    frames = vocab.encode_midi(native)
    assert frames[-1, 0] == vocab.eos_id(Modality.MIDI)
    decoded, skipped = vocab.decode_midi(frames)
    np.testing.assert_array_equal(decoded, native)
    assert skipped == 0
    assert vocab.id_to_string(frames[0, 0]) == "midi:" + codec.id_to_string(3)
    with pytest.raises(ValueError, match="MIDI ids"):
        vocab.encode_midi([codec.vocab_size])


def test_image_round_trip_with_sep_and_height(vocab):
    grid = vocab.config.image_grid
    rng = np.random.default_rng(0)
    systems = [rng.integers(0, 1024, size=(3, 5, 4)), rng.integers(0, 1024, size=(2, 4, 4))]
    for for_output in (False, True):
        native, _ = grids.join_systems(systems, grid, for_output=for_output)
        frames = vocab.encode_image(native, add_eos=True)
        assert frames[-1, 0] == vocab.eos_id("image")
        decoded, repaired = vocab.decode_image(frames)
        np.testing.assert_array_equal(decoded, native)
        assert repaired == 0
        names = vocab.frames_to_strings(frames)
        assert ("SEP" in names) and (any(n.startswith("height:") for n in names) == for_output)


def test_image_output_frames_pass_the_output_mask(vocab):
    grid = vocab.config.image_grid
    systems = [np.full((2, 3, 4), 7), np.full((4, 2, 4), 1023)]
    native, _ = grids.join_systems(systems, grid, for_output=True)
    frames = vocab.encode_image(native, add_eos=True)
    mask = vocab.logit_mask()[Modality.IMAGE]
    for frame in frames:
        forced = vocab.forced_slots("image", int(frame[0]))
        assert mask[0, frame[0]]
        if forced is None:
            assert all(mask[k, frame[k]] for k in range(1, 4))
        else:
            np.testing.assert_array_equal(forced, frame[1:])


def test_audio_round_trip_and_foreign_ids_are_repaired(vocab):
    codes = np.random.default_rng(1).integers(0, 1024, size=(50, 4))
    frames = vocab.encode_audio(codes, add_eos=True)
    decoded, repaired = vocab.decode_audio(frames)
    np.testing.assert_array_equal(decoded, codes)
    assert repaired == 0
    broken = frames.copy()
    broken[3, 2] = vocab.lmx_block.start + 5
    decoded, repaired = vocab.decode_audio(broken)
    assert repaired == 1 and decoded[3, 2] == 0
    with pytest.raises(ValueError, match="audio codes"):
        vocab.encode_audio(np.full((2, 4), 1024))
    with pytest.raises(ValueError, match="shape"):
        vocab.encode_audio(np.zeros((2, 3), int))


def test_decoders_stop_at_eos_and_skip_leading_sos(vocab):
    sos = vocab.sos_frame("lmx")[None]
    frames = np.concatenate([sos, vocab.encode_lmx(["measure", "C4"]), vocab.encode_lmx(["D4"])])
    assert vocab.decode_lmx(frames)[0] == ["measure", "C4"]
    one_d = frames[:, 0]  # a bare slot-0 stream decodes the same
    assert vocab.decode_lmx(one_d)[0] == ["measure", "C4"]


def test_random_ids_never_crash_the_decoders(vocab):
    rng = np.random.default_rng(2)
    for _ in range(200):
        frames = rng.integers(0, vocab.vocab_size, size=(rng.integers(0, 40), 4))
        vocab.decode_lmx(frames)
        vocab.decode_midi(frames)
        vocab.decode_image(frames)
        vocab.decode_audio(frames)


def test_logit_mask_allows_only_the_target_modality(vocab):
    mask = vocab.logit_mask()
    assert mask.shape == (4, 4, vocab.vocab_size) and mask.dtype == bool
    for modality in Modality:
        allowed = np.flatnonzero(mask[modality, 0])
        assert {vocab.modality_of(int(i)) for i in allowed} == {modality}
        assert not mask[modality, 0, vocab.sos_frame(modality)[0]], "SOS is never emitted"
        assert mask[modality, 0, vocab.eos_id(modality)]
    assert not mask[Modality.LMX, 0, vocab.lmx_block.start + 2], "UNK is never emitted"
    assert np.flatnonzero(mask[Modality.LMX, 1]).tolist() == [PAD_ID]
    # Each RVQ slot may only emit its own sub-block.
    for k in range(4):
        allowed = np.flatnonzero(mask[Modality.AUDIO, k])
        assert allowed.min() >= vocab.audio_blocks[k].start and allowed.max() < vocab.audio_blocks[k].stop
        assert len(allowed) == 1024 + 1
    assert mask[Modality.IMAGE, 0, vocab.sep_id] and not mask[Modality.IMAGE, 1, vocab.sep_id]
    assert not mask[Modality.IMAGE, 0, vocab.image_blocks[0].start + 1024], "output images drop IMAGE_PAD"


def test_forced_slots(vocab):
    assert vocab.forced_slots("lmx", 5).tolist() == [0, 0, 0]
    np.testing.assert_array_equal(vocab.forced_slots("audio", vocab.eos_id("audio")), vocab.eos_frame("audio")[1:])
    assert vocab.forced_slots("audio", vocab.audio_blocks[0].start + 3) is None
    assert vocab.forced_slots("image", vocab.sep_id).tolist() == [0, 0, 0]
    assert vocab.forced_slots("image", vocab.height_id(5)).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="height"):
        vocab.height_id(27)


def test_modality_parse_errors_are_clear():
    assert Modality.parse("Audio") is Modality.AUDIO
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        Modality.parse("video")
