"""The data layer: the only place (with tasks/ and corpus/tfds_builder.py) that may import TensorFlow,
SeqIO or TFDS (docs/design.md §2, §6). Modules that do so import them themselves; importing this
package imports nothing.

    indexed_source    sources whose examples are pure functions of (step, index): exact resume
    synthetic         the in-memory copy / reverse task for smoke runs (no TensorFlow)
    seqio_vocabulary  the SeqIO Vocabulary view of the unified vocabulary (TensorFlow)
    codec_windows     image crops and audio clips for codec training (TFDS corpus, folders, .npz)
    token_records     TFRecords of baked codec tokens: format, writing, reading (TensorFlow)
    token_bake        encodes a corpus or a folder with trained codecs into token records
"""
