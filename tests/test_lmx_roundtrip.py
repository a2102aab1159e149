"""Linearize <-> delinearize: ordering rules, systems, inference, robustness, corpus."""

import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mt_music.lmx import LMX_TOKENS, LmxError, conformance, delinearize, linearize
from mt_music.lmx.linearize import count_systems, linearize_systems

REFERENCE_DIR = Path(__file__).parent / "data" / "olimpic_lmx"
REPO = Path(__file__).resolve().parents[1]


def score(*measures: str, part_count: int = 1) -> str:
    """A score-partwise document whose first part holds the given measure bodies."""
    parts = "".join(
        f'<part id="P{p}">' + "".join(
            f'<measure number="{i + 1}">{body}</measure>' for i, body in enumerate(measures)
        ) + "</part>"
        for p in range(1, part_count + 1)
    )
    score_parts = "".join(f'<score-part id="P{p}"><part-name/></score-part>'
                          for p in range(1, part_count + 1))
    return f'<score-partwise version="4.0"><part-list>{score_parts}</part-list>{parts}</score-partwise>'


def note(pitch: str | None, note_type: str = "quarter", duration: int = 4, *, extra: str = "",
         after_type: str = "", chord: bool = False, voice: str = "1") -> str:
    """A <note>; `pitch` like 'F#4' / 'Bb3' / 'C4' (alter only) or None for a rest."""
    if pitch is None:
        content = "<rest/>"
    else:
        step, alter, octave = pitch[0], pitch[1:-1], pitch[-1]
        alter_xml = {"#": "<alter>1</alter>", "b": "<alter>-1</alter>", "": ""}[alter]
        content = f"<pitch><step>{step}</step>{alter_xml}<octave>{octave}</octave></pitch>"
    return (f"<note>{'<chord/>' if chord else ''}{content}<duration>{duration}</duration>"
            f"<voice>{voice}</voice><type>{note_type}</type>{after_type}{extra}</note>")


ATTRIBUTES = ("<attributes><divisions>4</divisions><key><fifths>{fifths}</fifths></key>"
              "<time><beats>4</beats><beat-type>4</beat-type></time>"
              "<clef><sign>G</sign><line>2</line></clef></attributes>")


def attributes(fifths: int = 0) -> str:
    return ATTRIBUTES.format(fifths=fifths)


def round_trip(tokens: list[str], flavor: str = "core") -> list[str]:
    result = delinearize(tokens)
    assert result.problems == []
    return linearize(result.musicxml, flavor=flavor)


# --- ordering rules ---------------------------------------------------------------

def test_reference_pairs_round_trip():
    for xml_path in REFERENCE_DIR.glob("*/*.xml"):
        tokens = linearize(xml_path)
        assert round_trip(tokens) == tokens, xml_path.name


def test_chord_notes_ascend_and_beams_go_on_the_first():
    beams = "<beam number=\"1\">begin</beam>"
    chord = (note("G4", "eighth", 2, after_type="<stem>up</stem>" + beams)
             + note("C4", "eighth", 2, chord=True, after_type="<stem>up</stem>" + beams)
             + note("E4", "eighth", 2, chord=True, after_type="<stem>up</stem>" + beams))
    end = note("D4", "eighth", 2, after_type='<stem>up</stem><beam number="1">end</beam>')
    tokens = linearize(score(attributes() + chord + end + note(None, "half", 8)))
    assert tokens[6:] == [
        "C4", "voice:1", "eighth", "stem:up", "beam:begin", "chord", "E4", "eighth",
        "chord", "G4", "eighth", "D4", "eighth", "beam:end", "rest", "half",
    ]
    assert round_trip(tokens) == tokens


def test_note_token_order_with_every_core_element():
    grace = ('<note><grace slash="yes"/><pitch><step>D</step><octave>5</octave></pitch>'
             '<voice>1</voice><type>eighth</type><stem>up</stem></note>')
    tuplet = note("F#4", "eighth", 2, after_type=(
        "<dot/><accidental>sharp</accidental><time-modification><actual-notes>3</actual-notes>"
        "<normal-notes>2</normal-notes></time-modification><stem>down</stem>"
        '<beam number="1">begin</beam><beam number="2">forward hook</beam>'),
        extra='<notations><tied type="start"/><tuplet type="start"/></notations>')
    hidden = '<note print-object="no"><rest/><duration>4</duration><voice>2</voice><type>quarter</type></note>'
    tokens = linearize(score(attributes() + grace + tuplet + hidden))
    assert tokens[6:] == [
        "grace", "grace:slash", "D5", "voice:1", "eighth", "stem:up",
        "F4", "eighth", "3in2", "dot", "sharp", "stem:down", "beam:begin",
        "beam:forward-hook", "tied:start", "tuplet:start",
        "print-object:no", "rest", "voice:2", "quarter",
    ]


def test_extended_flavour_adds_notations_in_order():
    notations = ('<notations><slur type="start"/><fermata/><arpeggiate/><articulations>'
                 "<tenuto/><accent/><staccato/><strong-accent/></articulations><ornaments>"
                 '<tremolo type="single">2</tremolo><trill-mark/></ornaments></notations>')
    document = score(attributes() + note("C5", "whole", 16, extra=notations))
    assert linearize(document)[-1] == "whole"
    extended = linearize(document, flavor="extended")
    assert extended[extended.index("whole") + 1:] == [
        "slur:start", "fermata", "arpeggiate", "staccato", "accent", "strong-accent",
        "tenuto", "tremolo:single", "tremolo:2", "trill-mark",
    ]
    assert round_trip(extended, flavor="extended") == extended


def test_voice_stem_and_staff_only_on_change_and_reset_by_backup():
    head = ("<attributes><divisions>1</divisions><key><fifths>0</fifths></key><staves>2</staves>"
            '<clef number="1"><sign>G</sign><line>2</line></clef>'
            '<clef number="2"><sign>F</sign><line>4</line></clef></attributes>')
    upper = "".join(note(p, "quarter", 1, after_type="<stem>up</stem><staff>1</staff>")
                    for p in ("C5", "D5", "E5", "F5"))
    lower = note("C3", "whole", 4, voice="5", after_type="<staff>2</staff>")
    tokens = linearize(score(head + upper + "<backup><duration>3</duration></backup>" + lower))
    assert tokens == [
        "measure", "key:fifths:0", "clef:G2", "staff:1", "clef:F4", "staff:2",
        "C5", "voice:1", "quarter", "stem:up", "staff:1", "D5", "quarter", "E5", "quarter",
        "F5", "quarter", "backup", "half", "backup", "quarter", "C3", "voice:5", "whole", "staff:2",
    ]
    assert round_trip(tokens) == tokens
    musicxml = delinearize(tokens).musicxml
    assert "<staves>2</staves>" in musicxml


def test_separate_forwards_stay_separate():
    forwards = "<forward><duration>1</duration></forward>" * 2
    tokens = linearize(score(attributes() + forwards + note("C4", "half", 8) + note(None, "quarter", 4)))
    assert tokens.count("forward") == 2
    assert round_trip(tokens) == tokens


# --- systems -------------------------------------------------------------------------

def test_systems_restate_clef_and_key_but_not_time():
    bar = note("C5", "whole", 16)
    change = '<attributes><clef><sign>F</sign><line>4</line></clef></attributes>'
    document = score(attributes(fifths=-2) + bar, change + bar,
                     '<print new-system="yes"/>' + bar, bar, '<print new-page="yes"/>' + bar)
    assert count_systems(document) == 3
    assert linearize(document, system=1) == [
        "measure", "key:fifths:-2", "clef:F4", "C5", "voice:1", "whole",
        "measure", "C5", "voice:1", "whole",
    ]
    systems = linearize_systems(document)
    assert [linearize(document, system=i) for i in range(3)] == systems
    whole = linearize(document)
    assert sum(len(s) for s in systems) == len(whole) + 2 * 2  # two re-stated headers
    with pytest.raises(LmxError, match="system 3 does not exist"):
        linearize(document, system=3)


def test_a_key_change_at_a_system_start_is_stated_once():
    bar = note("C5", "whole", 16)
    new_key = '<print new-system="yes"/><attributes><key><fifths>3</fifths></key></attributes>'
    document = score(attributes() + bar, new_key + bar)
    assert linearize(document, system=1)[:3] == ["measure", "key:fifths:3", "clef:G2"]


# --- unsupported input ------------------------------------------------------------

@pytest.mark.parametrize("document, message", [
    (score(attributes() + note("C4"), part_count=2), "exactly one part; this one has 2"),
    ('<score-timewise version="4.0"/>', "score-timewise"),
    ("<opus/>", "not a score-partwise"),
    (score("<attributes><divisions>1</divisions><staves>4</staves></attributes>"), "4 staves"),
    (score(attributes() + "<note><unpitched><display-step>C</display-step>"
           "<display-octave>5</display-octave></unpitched><duration>4</duration>"
           "<type>quarter</type></note>"), "unpitched"),
    (score(attributes().replace("<beats>4", "<beats>3+2")), "time signature 3+2/4"),
    ("<score-partwise", "not well-formed"),
])
def test_unsupported_input_raises_one_line_lmx_error(document, message):
    with pytest.raises(LmxError, match=re.escape(message)) as raised:
        linearize(document)
    assert "\n" not in str(raised.value)


def test_missing_file_raises_lmx_error(tmp_path):
    with pytest.raises(LmxError, match="no such file"):
        linearize(tmp_path / "absent.musicxml")


def test_lenient_mode_drops_and_reports_out_of_vocabulary_values():
    document = score(attributes().replace("<beats>4", "<beats>17") + note("C4", "whole", 16))
    problems: list[str] = []
    tokens = linearize(document, problems=problems)
    assert "time" not in tokens and "C4" in tokens
    assert problems == ["measure 1: time signature 17/4 is not representable in LMX"]


def test_missing_type_is_inferred_from_duration():
    untyped = ("<note><pitch><step>E</step><octave>4</octave></pitch>"
               "<duration>6</duration><voice>1</voice></note>")
    assert linearize(score(attributes() + untyped))[-4:] == ["E4", "voice:1", "quarter", "dot"]


# --- delinearization: inference -------------------------------------------------------

def _pitches(musicxml: str) -> list[tuple[str, int, str]]:
    found = []
    for pitch in ET.fromstring(musicxml).iter("pitch"):
        found.append((pitch.findtext("step"), int(pitch.findtext("alter") or 0),
                      pitch.findtext("octave")))
    return found


def test_alter_comes_from_key_accidentals_and_ties():
    tokens = (
        "measure key:fifths:2 clef:G2 F4 quarter C5 quarter natural C5 quarter F5 quarter "
        "B4 quarter flat tied:start measure B4 quarter tied:stop B4 quarter C5 half"
    )
    assert [(s, a) for s, a, _ in _pitches(delinearize(tokens).musicxml)] == [
        ("F", 1), ("C", 0), ("C", 0), ("F", 1), ("B", -1), ("B", -1), ("B", 0), ("C", 1),
    ]


def test_accidentals_are_per_staff_and_octave_and_count_across_voices():
    tokens = (
        "measure key:fifths:0 clef:G2 staff:1 clef:F4 staff:2 F4 voice:1 half sharp "
        "staff:1 F4 half backup whole F4 voice:2 half staff:2 rest half backup whole rest "
        "voice:3 quarter staff:1 F4 quarter F5 half"
    )
    pitches = _pitches(delinearize(tokens).musicxml)
    assert [a for _, a, _ in pitches] == [1, 1, 0, 1, 0]


def test_durations_become_integer_divisions():
    tokens = (
        "measure time beats:2 beat-type:4 C4 eighth 3in2 D4 eighth 3in2 E4 eighth 3in2 F4 "
        "16th dot G4 32nd"
    )
    root = ET.fromstring(delinearize(tokens).musicxml)
    assert root.findtext(".//divisions") == "24"
    assert [int(d.text) for d in root.iter("duration")] == [8, 8, 8, 9, 3]


def test_measure_rest_lasts_the_time_signature_or_the_longest_measure():
    with_time = delinearize("measure time beats:3 beat-type:8 rest rest:measure")
    assert ET.fromstring(with_time.musicxml).findtext(".//note/duration") == "3"
    without_time = delinearize("measure rest rest:measure measure C4 half dot")
    durations = [d.text for d in ET.fromstring(without_time.musicxml).iter("duration")]
    assert durations == ["3", "3"]


def test_a_whole_rest_alone_in_its_voice_fills_the_measure():
    result = delinearize("measure time beats:3 beat-type:4 rest whole backup half backup quarter "
                         "C4 half dot measure rest whole C4 quarter")
    assert result.problems == []
    durations = [d.text for d in ET.fromstring(result.musicxml).iter("duration")]
    assert durations == ["3", "3", "3", "4", "1"]  # the last whole rest has company: 4 quarters


# --- delinearization: bad sequences --------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("measure C4 quarter xyz", "not in the LMX vocabulary"),
    ("C4 quarter", "before the first 'measure'"),
    ("measure stem:up C4 quarter", "suffix token before any note"),
    ("measure C4 quarter D4", "prefix token not followed by a note type"),
    ("measure chord C4 quarter", "'chord' without a preceding note"),
    ("measure voice:1 quarter", "note without pitch"),
    ("measure C4 quarter stem:up stem:down", "second 'stem' token"),
    ("measure C4 quarter stem:up 3in2", "out of the canonical LMX order"),
    ("measure backup whole C4 quarter", "goes before the measure start"),
    ("measure key:fifths:1 dot", "does not apply to 'key:fifths:1'"),
    ("", "no measures"),
])
def test_bad_sequences_are_repaired_and_reported(text, expected):
    result = delinearize(text)
    assert any(expected in problem for problem in result.problems), result.problems
    assert ET.fromstring(result.musicxml).tag == "score-partwise"


def test_ten_thousand_random_sequences_never_raise():
    rng = random.Random(20240522)
    odd_strings = ["", "C10", "key:fifths:8", "<note>", "measure:", "ü", "voice:0", "12in8"]
    for _ in range(10_000):
        length = rng.choice((0, 1, 3, 10, 30, 80))
        tokens = [rng.choice(odd_strings) if rng.random() < 0.02 else rng.choice(LMX_TOKENS)
                  for _ in range(length)]
        if rng.random() < 0.7:
            tokens.insert(0, "measure")
        result = delinearize(tokens)
        assert not any("internal error" in p for p in result.problems), (tokens, result.problems)
    ET.fromstring(result.musicxml)  # the last one is well-formed too


def test_delinearized_random_output_is_well_formed_and_relinearizable():
    rng = random.Random(7)
    for _ in range(300):
        tokens = ["measure"] + [rng.choice(LMX_TOKENS) for _ in range(rng.choice((5, 40)))]
        musicxml = delinearize(tokens).musicxml
        problems: list[str] = []
        again = linearize(musicxml, flavor="extended", problems=problems)
        assert again[0] == "measure"


def test_delinearized_musicxml_renders_with_verovio():
    verovio = pytest.importorskip("verovio")
    result = delinearize(
        "measure key:fifths:-3 time beats:3 beat-type:4 clef:G2 staff:1 clef:F4 staff:2 "
        "E4 voice:1 quarter stem:up staff:1 chord G4 quarter chord B4 quarter natural "
        "A4 eighth beam:begin B4 eighth beam:end C5 quarter backup half backup quarter "
        "C3 voice:5 half dot staff:2"
    )
    toolkit = verovio.toolkit()
    assert toolkit.loadData(result.musicxml)
    assert toolkit.renderToSVG(1).count('class="note"') == 7


# --- the music21 corpus ----------------------------------------------------------------

def test_corpus_sample_round_trips_within_thresholds():
    pytest.importorskip("music21")
    report = conformance.run(48, seed=0, progress=False)
    assert len(report.checked) >= 40, report.text()
    assert report.rate("tokens_ok") >= 98.0, report.text(verbose=True)
    assert report.rate("notes_ok") >= 95.0, report.text(verbose=True)
    assert report.rate("rests_ok_given_time") >= 95.0, report.text(verbose=True)
