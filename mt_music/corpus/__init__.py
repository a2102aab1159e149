"""The embedded corpus: music21's bundled scores, engraved, linearized, performed and synthesized.

One example = one SYSTEM of a pianoform score with its image (PNG, 18 px staff height), LMX tokens,
notes (seconds from the system start), audio (44.1 kHz mono, FLAC) and time span in the piece;
piece-level records keep the whole-piece notes and audio for whole-piece evaluation.

    pieces.py        the catalogue of music21's corpus, selection, splits, parsing, pianoform reduction
    musicxml.py      MusicXML primitives: parse / write, the one part, measures, pitches
    performance.py   notes and measure times read from the MusicXML that is engraved (tempo map, ties)
    notation.py      MusicXML clean-up, system breaks, printed accidentals, per-system note checks
    layout.py        measures per system (width / duration / token budgets) and verovio engraving
    augmentation.py  the seeded augmentation settings of one rendering of a piece
    examples.py      one piece variant -> system examples + the piece record
    build.py         worker pool, shard files (resumable), summary
    checks.py        conformance checks on built examples (LMX ↔ notes, spans, audio, images)
    tfds_builder.py  the TensorFlow Datasets builder over the shards (the only TensorFlow module here)

Nothing here but `tfds_builder` imports TensorFlow. Usage and design decisions: README.md here.
"""
