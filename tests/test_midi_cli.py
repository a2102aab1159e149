"""`python -m mt_music.midi`: encode, decode, roundtrip, and one-line errors for bad input."""

import subprocess
import sys

import pretty_midi
import pytest

from mt_music.midi import MidiEventCodec, main, read_midi_notes


@pytest.fixture()
def piece(tmp_path):
    """25 s, two programs and drums: three 10 s windows with notes tied across boundaries."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano, strings = pretty_midi.Instrument(program=0), pretty_midi.Instrument(program=48)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    for k in range(50):
        piano.notes.append(pretty_midi.Note(80, 60 + k % 12, 0.5 * k, 0.5 * k + 0.4))
        drums.notes.append(pretty_midi.Note(100, 36 + k % 3, 0.5 * k, 0.5 * k + 0.1))
    strings.notes += [pretty_midi.Note(70, 48, 1.0, 14.5), pretty_midi.Note(70, 55, 9.5, 24.0)]
    midi.instruments += [piano, strings, drums]
    path = tmp_path / "piece.mid"
    midi.write(str(path))
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_encode_prints_readable_tokens_of_one_window(piece, capsys):
    status, out, _ = run(capsys, "encode", piece, "--start", 10, "--end", 20)
    tokens = out.split()
    assert status == 0 and tokens[:4] == ["program:48", "pitch:48", "pitch:55", "tie"]
    assert tokens[-1] == "EOS" and "drum:36" in tokens and max(
        int(t.split(":")[1]) for t in tokens if t.startswith("shift:")) <= 999


def test_encode_ids_match_the_readable_form(piece, capsys):
    _, readable, _ = run(capsys, "encode", piece)
    _, numbers, _ = run(capsys, "encode", piece, "--ids")
    codec = MidiEventCodec()
    assert codec.ids_to_strings(int(n) for n in numbers.split()) == readable.split()


def test_encode_all_windows_then_decode_lines_round_trips(piece, tmp_path, capsys):
    status, out, _ = run(capsys, "encode", piece, "--all-windows")
    assert status == 0 and len(out.splitlines()) == 3
    tokens_file = tmp_path / "piece.tokens"
    tokens_file.write_text(out)
    decoded = tmp_path / "decoded.mid"
    status, out, _ = run(capsys, "decode", tokens_file, "--lines", "-o", decoded)
    assert status == 0 and "invalid events: 0, dropped events: 0" in out
    status, out, _ = run(capsys, "roundtrip", decoded)
    assert status == 0 and "onset F1: 1.0000" in out and "onset+offset F1: 1.0000" in out
    original = {(round(n.start, 2), n.pitch, n.is_drum) for n in read_midi_notes(piece)}
    assert {(round(n.start, 2), n.pitch, n.is_drum) for n in read_midi_notes(decoded)} == original


def test_decode_accepts_ids_and_counts_bad_tokens(tmp_path, capsys):
    codec = MidiEventCodec()
    names = ["tie", "program:0", "velocity:1", "pitch:60", "shift:50", "velocity:0", "pitch:60"]
    good = [codec.string_to_id(name) for name in names]
    tokens_file = tmp_path / "ids.txt"
    tokens_file.write_text(" ".join(map(str, good)) + " 99999 bogus shift:10 EOS pitch:3\n")
    status, out, _ = run(capsys, "decode", tokens_file, "-o", tmp_path / "out.mid")
    assert status == 0 and "wrote 1 notes" in out
    assert "invalid events: 3, dropped events: 1" in out  # out-of-range id, unknown name, backwards shift
    assert [(n.start, n.end, n.pitch) for n in read_midi_notes(tmp_path / "out.mid")] == [(0.0, 0.5, 60)]


def test_roundtrip_with_twenty_second_windows(piece, capsys):
    status, out, _ = run(capsys, "roundtrip", piece, "--window-seconds", 20)
    assert status == 0 and "2 windows of 20 s" in out and "onset+offset F1: 1.0000" in out


@pytest.mark.parametrize("argv, message", [
    (["encode", "{tmp}/missing.mid"], "no such MIDI file"),
    (["roundtrip", "{tmp}/corrupt.mid"], "cannot read MIDI file"),
    (["decode", "{tmp}/missing.tokens", "-o", "{tmp}/x.mid"], "cannot read tokens file"),
    (["decode", "{tmp}/ok.tokens", "-o", "{tmp}/no/such/dir/x.mid"], "does not exist"),
    (["decode", "{piece}", "-o", "{tmp}/x.mid"], "cannot read tokens file"),  # binary, not text
    (["encode", "{piece}", "--start", "0", "--end", "30"], "--max-shift-steps >= 3000"),
    (["roundtrip", "{piece}", "--window-seconds", "20", "--max-shift-steps", "1000"], "codec stops at 1000"),
    (["encode", "{piece}", "--start", "5", "--end", "2"], "--start < --end"),
])
def test_bad_input_is_one_line_on_stderr(argv, message, piece, tmp_path, capsys):
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (tmp_path / "ok.tokens").write_text("tie EOS")
    argv = [a.format(tmp=tmp_path, piece=piece) for a in argv]
    status, _, err = run(capsys, *argv)
    assert status == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_module_entry_point_help_and_error_exit(tmp_path):
    helped = subprocess.run([sys.executable, "-m", "mt_music.midi", "roundtrip", "--help"],
                            capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "--window-seconds" in helped.stdout
    failed = subprocess.run([sys.executable, "-m", "mt_music.midi", "encode", str(tmp_path / "none.mid")],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and failed.stderr.startswith("error: no such MIDI file")
    assert "Traceback" not in failed.stderr and failed.stdout == ""
