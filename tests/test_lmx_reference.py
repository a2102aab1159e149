"""LMX against the OLiMPiC reference: vocabulary facts and exact token matches.

The MusicXML/LMX pairs in tests/data/olimpic_lmx come from the OLiMPiC
repository (ufal/olimpic-icdar24, MIT licence; see LICENSE.txt there).
"""

import io
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from mt_music.lmx import LMX_TOKENS, linearize, read_lmx_file
from mt_music.lmx.vocabulary import (
    CORE_TOKENS,
    EXTENDED_TOKENS,
    NOTE_PREFIX_TOKENS,
    NOTE_ROOT_TOKENS,
    NOTE_SUFFIX_TOKENS,
    PITCH_TOKENS,
    flavor_tokens,
)

REFERENCE_DIR = Path(__file__).parent / "data" / "olimpic_lmx"
REFERENCE_PAIRS = sorted(REFERENCE_DIR.glob("*/*.xml"))


def test_all_six_reference_pairs_are_present():
    names = {p.stem for p in REFERENCE_PAIRS if p.with_suffix(".lmx").exists()}
    assert names == {"grandstaff", "note_types", "one_empty_measure",
                     "simple_2345", "simple_67", "simple_89"}
    assert (REFERENCE_DIR / "LICENSE.txt").exists()


@pytest.mark.parametrize("xml_path", REFERENCE_PAIRS, ids=lambda p: p.stem)
def test_linearize_matches_reference_exactly(xml_path):
    assert linearize(xml_path) == read_lmx_file(xml_path.with_suffix(".lmx"))


def test_reference_file_reading_drops_header_and_comments():
    tokens = read_lmx_file(REFERENCE_DIR / "basics" / "one_empty_measure.lmx")
    assert tokens == ["measure", "key:fifths:0", "time", "beats:4", "beat-type:4", "clef:G2",
                      "rest", "voice:1", "rest:measure"]


def test_every_reference_token_is_in_the_core_vocabulary():
    core = set(CORE_TOKENS)
    for lmx_path in REFERENCE_DIR.glob("*/*.lmx"):
        assert set(read_lmx_file(lmx_path)) <= core


# --- the vocabulary -----------------------------------------------------------

def test_vocabulary_has_224_unique_tokens_in_olimpic_order():
    assert len(LMX_TOKENS) == 224 == len(set(LMX_TOKENS))
    assert LMX_TOKENS[:4] == ("measure", "key:fifths:-7", "key:fifths:-6", "key:fifths:-5")
    assert LMX_TOKENS[16:19] == ("time", "beats:1", "beats:2")
    assert LMX_TOKENS[37:41] == ("clef:G1", "clef:G2", "clef:G3", "clef:G4")
    assert LMX_TOKENS[52:56] == ("print-object:no", "grace", "grace:slash", "chord")
    assert LMX_TOKENS[56] == "C0" and LMX_TOKENS[125] == "B9"
    assert LMX_TOKENS[126:129] == ("rest", "forward", "backup")
    assert LMX_TOKENS[141:143] == ("1024th", "512th") and LMX_TOKENS[155] == "rest:measure"
    assert LMX_TOKENS[156] == "3in2" and LMX_TOKENS[-1] == "tremolo:4"


def test_prefix_root_suffix_groups_partition_the_note_tokens():
    groups = (NOTE_PREFIX_TOKENS, NOTE_ROOT_TOKENS, NOTE_SUFFIX_TOKENS)
    assert sum(len(g) for g in groups) == len(set().union(*groups)) == 224 - 52
    assert PITCH_TOKENS.index("B3") < PITCH_TOKENS.index("C4")


def test_core_and_extended_flavours():
    assert len(CORE_TOKENS) == 207 and len(EXTENDED_TOKENS) == 17
    assert set(CORE_TOKENS).isdisjoint(EXTENDED_TOKENS)
    assert flavor_tokens("extended") == set(LMX_TOKENS)
    assert {"slur:start", "fermata", "tremolo:single", "trill-mark"} <= set(EXTENDED_TOKENS)
    with pytest.raises(ValueError):
        flavor_tokens("fancy")


# --- the input forms ------------------------------------------------------------

def _grandstaff() -> Path:
    return REFERENCE_DIR / "basics" / "grandstaff.xml"


def test_compressed_mxl_is_read_through_its_container(tmp_path):
    archive = tmp_path / "grandstaff.mxl"
    with zipfile.ZipFile(archive, "w") as mxl:
        mxl.writestr("META-INF/container.xml",
                     '<container><rootfiles><rootfile full-path="score/main.musicxml"/>'
                     '</rootfiles></container>')
        mxl.writestr("decoy.xml", "<not-music/>")
        mxl.write(_grandstaff(), "score/main.musicxml")
    assert linearize(archive) == linearize(_grandstaff())


def test_text_bytes_and_trees_are_accepted(tmp_path):
    text = _grandstaff().read_text(encoding="utf-8")
    expected = linearize(_grandstaff())
    assert linearize(text) == expected
    assert linearize(text.encode("utf-8")) == expected
    assert linearize(ET.parse(io.StringIO(text))) == expected
    copy = tmp_path / "grandstaff.musicxml"
    shutil.copy(_grandstaff(), copy)
    assert linearize(str(copy)) == expected
