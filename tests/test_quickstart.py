"""The README's main job runs end to end on one corpus piece and writes every artefact."""

import json

import soundfile

from mt_music import lmx, quickstart


def test_quickstart_writes_all_representations(tmp_path, capsys):
    assert quickstart.main(["--pieces", "bach/bwv66.6", "--out", str(tmp_path)]) == 0
    piece = tmp_path / "bach_bwv66.6"
    for name in ("score.musicxml", "part.lmx", "part.delinearized.musicxml", "system0.png",
                 "system0.model_input.png", "performance.mid", "performance.stitched.mid", "performance.flac"):
        assert (piece / name).stat().st_size > 0, name
    assert lmx.read_lmx_file(piece / "part.lmx")[0] == "measure"
    info = soundfile.info(piece / "performance.flac")
    assert info.samplerate == 44100 and info.channels == 1
    (report,) = json.loads((tmp_path / "summary.json").read_text())["pieces"]
    assert report["lmx_pitches_match"] and report["midi_onset_f1"] == 1.0
    assert abs(report["staff_height_px"] - 18) <= 1
    assert abs(report["audio_seconds"] - info.duration) < 0.01
    assert "bach/bwv66.6" in capsys.readouterr().out


def test_quickstart_rejects_unknown_pieces(tmp_path, capsys):
    assert quickstart.main(["--pieces", "not/a_piece", "--out", str(tmp_path)]) == 2
    assert "not in music21's corpus: not/a_piece" in capsys.readouterr().err
