"""The SeqIO wrapper: python and TF paths agree, EOS/UNK per modality."""

import numpy as np
import pytest
import tensorflow as tf

from mt_music.data.seqio_vocabulary import ModalityVocabulary
from mt_music.vocabulary import PAD_ID, UnifiedVocabulary


@pytest.fixture(scope="module")
def lmx_vocab():
    return ModalityVocabulary("lmx")


def test_sizes_and_special_ids(lmx_vocab):
    unified = UnifiedVocabulary()
    assert lmx_vocab.vocab_size == unified.vocab_size
    assert lmx_vocab.pad_id == PAD_ID
    assert lmx_vocab.eos_id == unified.eos_id("lmx")
    assert ModalityVocabulary("audio").eos_id == unified.eos_id("audio")
    assert ModalityVocabulary("audio").unk_id is None


def test_lmx_encode_decode_python_and_tf_agree(lmx_vocab):
    text = "measure key:fifths:-2 clef:G2 C4 voice:1 quarter stem:up"
    ids = lmx_vocab.encode(text)
    assert len(ids) == 7 and lmx_vocab.unk_id not in ids
    assert lmx_vocab.decode(ids) == text
    tf_ids = lmx_vocab.encode_tf(tf.constant(text)).numpy().tolist()
    assert tf_ids == ids
    decoded = lmx_vocab.decode_tf(tf.constant(ids + [lmx_vocab.eos_id, ids[0]])).numpy().decode()
    assert decoded == text, "decode stops at EOS"


def test_unknown_lmx_text_maps_to_unk(lmx_vocab):
    ids = lmx_vocab.encode("C4 banana")
    assert ids[1] == lmx_vocab.unk_id
    assert lmx_vocab.encode_tf(tf.constant("C4 banana")).numpy().tolist() == ids


def test_midi_text_form():
    vocab = ModalityVocabulary("midi")
    ids = vocab.encode("tie shift:10 velocity:1 pitch:60 shift:50 velocity:0 pitch:60")
    assert vocab.unk_id not in ids
    assert vocab.decode(ids).split()[1] == "shift:10"


def test_batched_tf_decode_drops_padding(lmx_vocab):
    ids = lmx_vocab.encode("C4 D4")
    batch = tf.constant([ids + [lmx_vocab.eos_id, PAD_ID], ids[:1] + [PAD_ID] * 3])
    decoded = [s.decode() for s in lmx_vocab.decode_tf(batch).numpy()]
    assert decoded == ["C4 D4", "C4"]


def test_codec_modalities_have_no_text_form():
    with pytest.raises(ValueError, match="no text form"):
        ModalityVocabulary("image").encode("1 2 3")


def test_equality_is_by_modality_and_config():
    assert ModalityVocabulary("lmx") == ModalityVocabulary("lmx")
    assert ModalityVocabulary("lmx") != ModalityVocabulary("midi")
    assert np.unique([hash(ModalityVocabulary(m)) for m in ("lmx", "midi")]).size == 2
