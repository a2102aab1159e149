"""The error layer: a user's mistake is one `error:` line and exit status 2, a bug keeps its traceback.

Representative cases of tools/bad_input_sweep.py, run in-process (fast); the sweep runs them all.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pathlib
import sys
import tarfile

import pretty_midi
import pytest

from mt_music import errors, quickstart
from mt_music.image import engraving
from mt_music.lmx import cli as lmx_cli
from mt_music.midi import cli as midi_cli

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"
ONE_PART = ('<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"/></part-list><part id="P1">'
            '<measure number="1"><attributes><divisions>1</divisions><clef><sign>G</sign><line>2</line></clef>'
            '</attributes><note><pitch><step>C</step><octave>4</octave></pitch><duration>4</duration>'
            '<type>whole</type></note></measure></part></score-partwise>')


def tool(name: str):
    """A tools/ script as a module (its `main(argv)`)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_one_error(capsys, status: int, *words: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == errors.EXIT_USER_ERROR, err
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    for word in words:
        assert word in lines[-1], err
    return lines[-1]


# ----------------------------------------------------------------------------- the layer
def test_user_error_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv(errors.TRACEBACK_VARIABLE, raising=False)

    def main(argv):
        raise errors.UserError("--out: x is a file,\n not a folder")

    assert errors.main_with_errors(main, []) == 2
    assert capsys.readouterr().err == "error: --out: x is a file, not a folder\n"


def test_os_error_naming_a_file_is_a_user_error(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(errors.TRACEBACK_VARIABLE, raising=False)
    assert errors.main_with_errors(lambda argv: open(tmp_path / "absent").read(), []) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'absent'}: No such file or directory\n"


def test_traceback_variable_reraises_user_errors(monkeypatch):
    monkeypatch.setenv(errors.TRACEBACK_VARIABLE, "1")
    with pytest.raises(errors.UserError):
        errors.main_with_errors(lambda argv: (_ for _ in ()).throw(errors.UserError("bad")), [])


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.delenv(errors.TRACEBACK_VARIABLE, raising=False)
    with pytest.raises(ZeroDivisionError):
        errors.main_with_errors(lambda argv: 1 / 0, [])


def test_output_checks(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(errors.UserError, match="is a file, not a folder"):
        errors.check_output_dir(afile, "--out")
    with pytest.raises(errors.UserError, match="cannot write"):
        errors.check_output_dir(afile / "below", "--out")
    assert errors.check_output_dir(tmp_path / "new" / "dir", "--out").is_dir()
    with pytest.raises(errors.UserError, match="is a folder"):
        errors.check_output_file(tmp_path, "--json")
    with pytest.raises(errors.UserError, match="does not exist"):
        errors.check_output_file(tmp_path / "no" / "x.json", "--json")
    with pytest.raises(errors.UserError, match="must be > 0"):
        errors.check_positive(0, "--limit")


def test_argparse_mistakes_are_one_error_line(capsys):
    with pytest.raises(SystemExit) as stop:
        midi_cli.main(["encode", "x.mid", "--window-seconds", "ten"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --window-seconds: invalid float value") and err.count("\n") == 1


def test_help_exits_0():
    with pytest.raises(SystemExit) as stop:
        lmx_cli.main(["--help"])
    assert stop.value.code == 0


# ------------------------------------------------------------------------ representations
def test_lmx_multi_part_input_names_pianoform(tmp_path, capsys):
    score = tmp_path / "two.musicxml"
    score.write_text(ONE_PART.replace("</score-partwise>", ONE_PART[ONE_PART.index('<part id'):].replace(
        "P1", "P2")))
    assert_one_error(capsys, lmx_cli.main(["linearize", str(score)]), "2 parts", "--pianoform")


def test_lmx_binary_mxl_on_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"PK\x03\x04\x00\x00garbage\x00")))
    assert_one_error(capsys, lmx_cli.main(["linearize", "-"]), "stdin")


def test_lmx_delinearize_of_musicxml_is_one_error(tmp_path, capsys):
    score = tmp_path / "score.musicxml"
    score.write_text(ONE_PART)
    assert_one_error(capsys, lmx_cli.main(["delinearize", str(score)]), "not LMX", "linearize")


def test_lmx_output_folder_checked_first(tmp_path, capsys):
    score = tmp_path / "score.musicxml"
    score.write_text(ONE_PART)
    assert_one_error(capsys, lmx_cli.main(["linearize", str(score), "-o", str(tmp_path / "no" / "x.lmx")]),
                     "-o/--output", "does not exist")


@pytest.fixture
def midi_files(tmp_path):
    notes = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.5))
    notes.instruments.append(piano)
    notes.write(str(tmp_path / "one.mid"))
    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(0))
    empty.write(str(tmp_path / "empty.mid"))
    return tmp_path / "one.mid", tmp_path / "empty.mid"


def test_midi_zero_notes_is_an_error_not_f1_1(midi_files, capsys):
    assert_one_error(capsys, midi_cli.main(["roundtrip", str(midi_files[1])]), "no notes")


def test_midi_start_past_the_end(midi_files, capsys):
    assert_one_error(capsys, midi_cli.main(["encode", str(midi_files[0]), "--start", "100"]), "past the end")


@pytest.mark.parametrize("value", ["0", "-5", "inf"])
def test_midi_window_seconds_must_be_positive(midi_files, capsys, value):
    assert_one_error(capsys, midi_cli.main(["encode", str(midi_files[0]), "--window-seconds", value]),
                     "--window-seconds")


def test_midi_decode_of_non_tokens_writes_nothing(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("hello world")
    assert_one_error(capsys, midi_cli.main(["decode", str(tmp_path / "t.txt"), "-o", str(tmp_path / "o.mid")]),
                     "no notes decoded")
    assert not (tmp_path / "o.mid").exists()


# ------------------------------------------------------------------------ entry points, tools
def test_install_fonts_into_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    status = engraving.main(["install-fonts", "--font-dir", str(tmp_path / "f"), "--no-fc-cache"])
    assert_one_error(capsys, status, "--font-dir", "is a file")


def test_quickstart_checks_out_and_window_first(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert_one_error(capsys, quickstart.main(["--out", str(tmp_path / "f")]), "--out")
    assert_one_error(capsys, quickstart.main(["--window-seconds", "0", "--out", str(tmp_path)]), "--window-seconds")


def test_quickstart_reports_a_bad_piece_and_keeps_the_others(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(errors.TRACEBACK_VARIABLE, raising=False)
    good = quickstart.PieceReport("bach/bwv66.6", 1, 0, True, 18.0, (1, 1), 1, 1.0, 1.0, 1.0, 1, {})

    def run_piece(name, out_dir, window_seconds):
        if name == "bach/bwv4.8":
            raise ValueError("cannot engrave")
        return good

    monkeypatch.setattr(quickstart, "run_piece", run_piece)
    status = quickstart.main(["--pieces", "bach/bwv66.6", "bach/bwv4.8", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 1 and "bach/bwv66.6" in captured.out and "FAILED" in captured.out
    assert captured.err.splitlines()[-1].startswith("error: 1 of 2 pieces failed: bach/bwv4.8")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["pieces"]) == 1 and "bach/bwv4.8" in summary["failed"]


def test_check_corpus_reports_a_damaged_shard_as_a_failed_check(tmp_path, capsys):
    shard = tmp_path / "broken.tar"
    with tarfile.open(shard, "w") as archive:
        data = b"{not json"
        info = tarfile.TarInfo("piece.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    status = tool("check_corpus").main(["--shards", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 1 and "FAIL readable: broken.tar" in captured.out
    assert captured.err.startswith("error: 1 checks failed")


def test_corpus_projection_bad_json(tmp_path, capsys):
    (tmp_path / "s.json").write_text("{oops")
    assert_one_error(capsys, tool("corpus_projection").main([str(tmp_path / "s.json")]), "is not JSON")


def test_build_corpus_unknown_piece(tmp_path, capsys):
    status = tool("build_corpus").main(["--piece-ids", "bach/bwv0000", "--data-dir", str(tmp_path)])
    assert_one_error(capsys, status, "bach/bwv0000")


def test_lmx_conformance_limit_0(capsys):
    assert_one_error(capsys, tool("lmx_conformance").main(["--limit", "0"]), "--limit")
