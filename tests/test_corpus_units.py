"""Unit tests of the corpus builder's parts (no TensorFlow, no corpus build)."""

from fractions import Fraction

import numpy as np
import pytest

from mt_music import audio, lmx
from mt_music.audio import synthesis
from mt_music.corpus import augmentation, layout, musicxml, notation, performance, pieces
from mt_music.midi import Note

PICKUP_TIE_TEMPO = """<?xml version="1.0"?>
<score-partwise version="4.0"><part-list><score-part id="P1"><part-name/></score-part></part-list>
<part id="P1">
 <measure number="0" implicit="yes">
  <attributes><divisions>2</divisions><key><fifths>0</fifths></key><time><beats>3</beats><beat-type>4</beat-type></time>
   <clef><sign>G</sign><line>2</line></clef></attributes>
  <direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>60</per-minute></metronome></direction-type>
   <sound tempo="60"/></direction>
  <note><pitch><step>D</step><octave>5</octave></pitch><duration>2</duration><voice>1</voice><type>quarter</type></note>
 </measure>
 <measure number="1">
  <note><pitch><step>G</step><octave>4</octave></pitch><duration>4</duration><voice>1</voice><type>half</type></note>
  <note><chord/><pitch><step>B</step><octave>4</octave></pitch><duration>4</duration><voice>1</voice><type>half</type></note>
  <note><pitch><step>F</step><alter>1</alter><octave>4</octave></pitch><duration>2</duration><tie type="start"/><voice>1</voice><type>quarter</type></note>
  <backup><duration>6</duration></backup>
  <note><rest/><duration>4</duration><voice>2</voice><type>half</type></note>
  <note><pitch><step>F</step><octave>4</octave></pitch><duration>2</duration><voice>2</voice><type>quarter</type></note>
 </measure>
 <measure number="2">
  <note><pitch><step>F</step><alter>1</alter><octave>4</octave></pitch><duration>2</duration><tie type="stop"/><voice>1</voice><type>quarter</type></note>
  <note><grace/><pitch><step>A</step><octave>4</octave></pitch><voice>1</voice><type>eighth</type></note>
  <note><pitch><step>F</step><alter>1</alter><octave>4</octave></pitch><duration>4</duration><voice>1</voice><type>half</type></note>
 </measure>
</part></score-partwise>
"""


def test_read_score_pickup_ties_chords_backup_and_tempo():
    timing = performance.read_score(musicxml.parse(PICKUP_TIE_TEMPO))
    assert timing.measure_starts == [0, 1, 4]
    assert timing.measure_lengths == [1, 3, 3]
    assert timing.tempo_events == [(0, 60.0)]
    played = performance.perform(timing)
    assert played.tempo_from_score and played.measure_seconds == [0.0, 1.0, 4.0, 7.0]
    by_pitch = {(n.pitch, round(n.start, 3)): n for n in played.notes}
    tied = by_pitch[(66, 3.0)]  # F#4 quarter tied over the barline: one note of 2 beats
    assert tied.end == pytest.approx(5.0)
    assert not any(n.pitch == 66 and n.start == pytest.approx(4.0) for n in played.notes)
    assert by_pitch[(71, 1.0)].end == pytest.approx(3.0)  # the chord note
    assert (65, 3.0) in by_pitch  # voice 2's F natural after the backup
    grace = by_pitch[(69, round(5.0 - performance.GRACE_SECONDS, 3))]
    assert grace.end == pytest.approx(5.0)
    assert by_pitch[(66, 5.0)].end == pytest.approx(7.0)


def test_clip_notes_keeps_notes_inside_the_span_on_the_grid():
    notes = [Note(0.5, 2.5, 60), Note(1.9, 2.0, 62), Note(3.0, 4.0, 64)]
    clipped = performance.clip_notes(notes, 1.0, 3.0)
    assert [(n.start, n.end, n.pitch) for n in clipped] == [(0.0, 1.5, 60), (0.9, 1.0, 62)]
    assert all(0 <= n.start < n.end <= 2.0 for n in clipped)


def test_default_tempo_follows_the_metre():
    assert performance.default_tempo((4, 2)) == 120.0
    assert performance.default_tempo((6, 8)) == 99.0
    assert performance.default_tempo((3, 4)) == 96.0
    assert performance.default_tempo(None) == 96.0


def test_respelled_accidentals_let_lmx_recover_every_pitch():
    root = musicxml.parse(PICKUP_TIE_TEMPO)
    notation.set_system_breaks(root, [0, 2])
    notation.respell_accidentals(root, [0, 2])
    # measure 1: F#4 (voice 1, beat 3) against F natural (voice 2, same onset): both get a sign
    accidentals = [n.findtext("accidental") for n in musicxml.measures(root)[1].iter("note")]
    assert accidentals == [None, None, "sharp", None, "natural"]
    # measure 2 starts a system: the tied F# is read on its own, so it gets a courtesy sharp;
    # the later F# of the same measure then needs none
    accidentals = [n.findtext("accidental") for n in musicxml.measures(root)[2].iter("note")]
    assert accidentals == ["sharp", None, None]
    assert lmx.count_systems(musicxml.to_bytes(root)) == 2
    for index, (first, stop) in enumerate([(0, 2), (2, 3)]):
        tokens = lmx.linearize(root, system=index)
        result = lmx.delinearize(tokens)
        assert notation.measure_notes(musicxml.parse(result.musicxml)) == notation.measure_notes(root, first, stop)


def test_system_breaks_are_exactly_the_requested_ones():
    root = musicxml.parse(PICKUP_TIE_TEMPO)
    notation.set_system_breaks(root, [0, 1])
    notation.set_system_breaks(root, [0, 2])
    starts = [i for i, m in enumerate(musicxml.measures(root)) if m.find("print[@new-system='yes']") is not None]
    assert starts == [2]


def test_line_breaking_respects_every_budget_and_balances():
    widths = [100.0] * 20
    seconds = [3.0] * 20
    tokens = [20] * 20
    header = [0.0] + [25.0] * 19
    budget = layout.LayoutBudget(max_width_px=1000, max_seconds=16.0, max_lmx_tokens=400)
    plans = layout.choose_system_breaks(widths, seconds, tokens, header, budget)
    assert plans[0].start == 0 and plans[-1].stop == 20
    assert all(a.stop == b.start for a, b in zip(plans, plans[1:]))
    assert all(p.seconds <= 16.0 and p.width_px <= 1000 and p.lmx_tokens <= 400 for p in plans)
    sizes = [p.stop - p.start for p in plans]
    assert len(plans) == 4 and max(sizes) - min(sizes) <= 1  # 5 measures fit; 20 = 4 × 5
    lone = layout.choose_system_breaks([3000.0], [1.0], [5], [0.0], budget)  # too wide alone
    assert [(p.start, p.stop) for p in lone] == [(0, 1)]


def test_transposition_spelling_keeps_key_signatures_small():
    assert pieces.transposition_interval(1, [0]) == ("m2", -5)  # C → D-flat, not C-sharp
    assert pieces.transposition_interval(1, [5]) == ("m2", -5)  # B → C
    assert pieces.transposition_interval(-1, [-5]) == ("-m2", 5)  # D-flat → C
    assert pieces.transposition_interval(6, [3]) == ("d5", -6)  # A → E-flat
    assert pieces.transposition_interval(0, [0]) is None


def test_splits_are_deterministic_and_roughly_85_7_8():
    ids = [f"piece/{i}" for i in range(4000)]
    splits = [pieces.split_of(i) for i in ids]
    assert splits == [pieces.split_of(i) for i in ids]
    shares = {name: splits.count(name) / len(ids) for name in ("train", "validation", "test")}
    assert abs(shares["train"] - 0.85) < 0.03 and abs(shares["test"] - 0.08) < 0.02


def test_augmentation_is_seeded_and_variant_zero_is_canonical():
    fonts = ("TimGM6mb", "FluidR3")
    first = augmentation.sample_augmentation(0, "bach/bwv66.6", 0, fonts)
    assert first == augmentation.sample_augmentation(0, "bach/bwv66.6", 0, fonts)
    assert first.transpose_semitones == 0 and first.font == "Leipzig" and first.layout_fill == 1.0
    assert 0.8 <= first.tempo_factor <= 1.25 and first.soundfont in fonts
    others = [augmentation.sample_augmentation(0, "bach/bwv66.6", v, fonts) for v in range(1, 9)]
    assert len({a.font for a in others}) > 1 and any(a.transpose_semitones for a in others)
    assert augmentation.sample_augmentation(1, "bach/bwv66.6", 1, fonts) != others[0]


def test_renderer_gives_exact_lengths_and_no_bleed():
    pytest.importorskip("fluidsynth", reason="FluidSynth missing (apt-get install libfluidsynth3)")
    renderer = synthesis.Renderer()
    notes = [Note(0.0, 0.5, 60, 100), Note(0.25, 1.0, 64, 90)]
    loud = renderer.render(notes, 2.0, "TimGM6mb")
    assert len(loud) == 2 * audio.SAMPLE_RATE and 0.85 < np.abs(loud).max() <= 0.9 + 1e-6
    silence = renderer.render([], 0.5, "TimGM6mb")
    assert len(silence) == round(0.5 * audio.SAMPLE_RATE) and np.abs(silence).max() < 1e-3
    again = renderer.render(notes, 2.0, "TimGM6mb")
    assert np.corrcoef(loud, again)[0, 1] > 0.99
    mixed = synthesis.overlap_add([np.ones(10, np.float32), np.ones(10, np.float32)], [0.0, 5 / audio.SAMPLE_RATE],
                                  20 / audio.SAMPLE_RATE)
    assert mixed.tolist() == [1] * 5 + [2] * 5 + [1] * 5 + [0] * 5


def test_flac_round_trip_is_lossless_at_16_bit():
    waveform = (np.round(np.sin(np.linspace(0, 100, 4410)) * 20000) / 32768).astype(np.float32)
    decoded, rate = audio.decode_flac(audio.encode_flac(waveform))
    assert rate == audio.SAMPLE_RATE and np.array_equal(decoded, waveform)


def test_catalog_selection_is_deterministic_and_mixes_collections():
    catalog = pieces.catalog()
    assert len(catalog) > 10000 and len({p.piece_id for p in catalog}) == len(catalog)
    assert all(not p.source_path.endswith(".rntxt") for p in catalog)
    chosen = pieces.select_pieces(catalog, count=12, composers=["bach", "palestrina", "essenFolksong"], seed=0)
    assert chosen == pieces.select_pieces(catalog, count=12, composers=["bach", "palestrina", "essenFolksong"], seed=0)
    assert {p.collection for p in chosen} >= {"bach", "palestrina", "essenFolksong"}
    assert {"validation", "test"} <= {p.split for p in chosen}
    assert pieces.piece_by_id("bach/bwv66.6.mxl").piece_id == "bach/bwv66.6"


def test_pianoform_reduction_of_a_chorale():
    score = pieces.load_score(pieces.piece_by_id("bach/bwv66.6"))
    reduced = pieces.pianoform(score)
    root = notation.clean(musicxml.parse(pieces.to_musicxml(reduced)))
    assert musicxml.staff_count(root) == 2
    voices = {(n.findtext("staff"), n.findtext("voice")) for n in root.iter("note")}
    assert voices == {("1", "1"), ("1", "2"), ("2", "5"), ("2", "6")}
    assert root.find(".//lyric") is None
    timing = performance.read_score(root)
    assert timing.measure_lengths[0] == Fraction(1)  # the pickup stays a pickup


def test_corpus_rendering_imports_neither_tensorflow_nor_jax():
    import subprocess
    import sys

    code = ("import sys; import mt_music.corpus.build, mt_music.corpus.examples, mt_music.corpus.checks; "
            "bad = [m for m in ('tensorflow', 'jax', 'seqio') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tool", ["build_corpus.py", "corpus_throughput.py", "contact_sheet.py", "check_corpus.py",
                                  "corpus_projection.py"])
def test_corpus_tools_explain_themselves(tool):
    import pathlib
    import subprocess
    import sys

    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / tool
    result = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stderr
