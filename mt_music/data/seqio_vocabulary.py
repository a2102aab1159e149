"""SeqIO view of the unified vocabulary, one instance per output modality.

SeqIO wants a `Vocabulary` per feature: it appends EOS, decodes predictions for
metrics and reports sizes. Every instance shares the unified id space (so the
model has one embedding table); the modality only decides which ids are EOS/UNK
and how text maps to ids. LMX and MIDI have a text form (LMX tokens; readable MIDI
events like `shift:12 pitch:60`); image and audio come from codecs as ids and
decode to readable slot names. Kept apart from vocabulary.py because SeqIO pulls
in TensorFlow, which the model core must not import.
"""

from __future__ import annotations

import numpy as np
import seqio
import tensorflow as tf

from mt_music import vocabulary as vocab_lib

Modality = vocab_lib.Modality


class ModalityVocabulary(seqio.Vocabulary):
    """seqio.Vocabulary over the unified ids, with EOS/UNK of one modality."""

    def __init__(self, modality: Modality | str, config: vocab_lib.VocabularyConfig = vocab_lib.VocabularyConfig()):
        super().__init__(extra_ids=0)
        self.modality = Modality.parse(modality)
        self.config = config
        self.unified = vocab_lib.UnifiedVocabulary(config)
        names = [self._name(i) for i in range(self.unified.vocab_size)]
        self._names = np.array(names, dtype=object)
        self._text_to_id = self._text_table()

    def _name(self, token_id: int) -> str:
        if token_id == vocab_lib.PAD_ID:
            return ""
        name = self.unified.id_to_string(token_id)
        prefix = self.modality.name.lower() + ":"
        return name[len(prefix) :] if name.startswith(prefix) else name

    def _text_table(self) -> dict[str, int]:
        """Text token -> id for the modalities that have a text form."""
        if self.modality.is_rvq:
            return {}
        block = self.unified.lmx_block if self.modality is Modality.LMX else self.unified.midi_block
        return {self._names[i]: i for i in range(block.start + 3, block.stop)}

    @property
    def eos_id(self) -> int:
        return self.unified.eos_id(self.modality)

    @property
    def unk_id(self) -> int | None:
        if self.modality is Modality.LMX:
            return self.unified.lmx_block.start + 2
        if self.modality is Modality.MIDI:
            return self.unified.midi_block.start + 2
        return None

    @property
    def _base_vocab_size(self) -> int:
        return self.unified.vocab_size

    def _require_text_form(self) -> None:
        if self.modality.is_rvq:
            raise ValueError(
                f"{self.modality.name.lower()} has no text form: tokenize it with its codec, not with encode()"
            )

    def _encode(self, s: str) -> list[int]:
        self._require_text_form()
        return [self._text_to_id.get(token, self.unk_id) for token in s.split()]

    def _decode(self, ids) -> str:
        names = [self._names[i] if 0 <= i < len(self._names) else "" for i in (int(i) for i in ids)]
        return " ".join(name for name in names if name and name != self._names[self.eos_id])

    def _encode_tf(self, s: tf.Tensor) -> tf.Tensor:
        self._require_text_form()
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(self._text_to_id), tf.string),
                tf.constant(list(self._text_to_id.values()), tf.int32),
            ),
            default_value=self.unk_id,
        )
        return table.lookup(tf.strings.split(s))

    def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        names = tf.constant([n if i != self.eos_id else "" for i, n in enumerate(self._names)], tf.string)
        ids = tf.convert_to_tensor(ids)
        kept = tf.ragged.boolean_mask(ids, tf.not_equal(ids, vocab_lib.PAD_ID) & tf.not_equal(ids, self.eos_id))
        return tf.strings.reduce_join(tf.gather(names, kept), axis=-1, separator=" ")

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ModalityVocabulary) and other.modality == self.modality and other.config == self.config
        )

    def __hash__(self) -> int:
        return hash((self.modality, self.config))
