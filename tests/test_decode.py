"""Export a (briefly) trained tiny model and decode a user's files with it, in every direction: files of
the right kind that their own readers accept, with the lengths the inputs imply; greedy decoding through
the export equals `predict_batch` on the training checkpoint; a bad file is one error line."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jax
import music21
import numpy as np
import pretty_midi
import pytest
import soundfile
from PIL import Image
from system_records import piece_record, record
from test_corpus_experiment import ENV, _train

from mt_music import decode, export
from mt_music.audio import synthesis
from mt_music.data import record_store
from mt_music.image import engraving
from mt_music.inference import browser, exported, inputs
from mt_music.training import checkpoints
from mt_music.vocabulary import Modality

ROOT = pathlib.Path(__file__).parents[1]
WINDOW = 1.4  # the seconds the CPU experiment trains audio↔MIDI windows on
# the decoding script run as on an accelerator host without TensorFlow or SeqIO: importing them fails
WITHOUT_TENSORFLOW = """
import importlib.abc, importlib.machinery, runpy, sys
class Unimportable(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets", "tensorflow_text", "seqio", "gin"):
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        raise ImportError(spec.name + " is not installed on this host (blocked by the test)")
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, Unimportable())
sys.argv[0] = "mt_music.decode"
runpy.run_module("mt_music.decode", run_name="__main__", alter_sys=True)
"""
SETTINGS = decode.DecodeSettings(window_seconds=WINDOW, synthesis_window_seconds=WINDOW, overlap_seconds=0.4,
                                 max_length=24)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    store, pieces = root / "store" / "tokens-00000.npz", root / "pieces" / "tokens-00000.npz"
    record_store.write_shard([record(seed, columns=5 + seed % 3, frames=30 + seed) for seed in range(4)], store)
    record_store.write_shard([piece_record(seed) for seed in range(2)], pieces)
    result = _train(root, root / "run", store, pieces, extra=["--gin.TRAIN_STEPS=2"])
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "run"


@pytest.fixture(scope="module")
def export_dir(run, tmp_path_factory):
    return export.export(run, tmp_path_factory.mktemp("exports") / "tiny")


@pytest.fixture(scope="module")
def translator(export_dir):
    return decode.Translator(export_dir, SETTINGS)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    score = music21.corpus.parse("joplin/maple_leaf_rag").measures(1, 6)
    musicxml = music21.musicxml.m21ToXml.GeneralObjectExporter(score).parse().decode()
    page = engraving.engrave(musicxml, engraving.EngravingOptions(one_system_per_page=False))[0]
    page.image.save(folder / "page.png")
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(90, 60 + (i * 5) % 12, 0.2 + 0.3 * i, 0.5 + 0.3 * i) for i in range(10)]
    midi.instruments.append(piano)
    midi.write(str(folder / "tune.mid"))
    soundfile.write(folder / "tune.flac", synthesis.synthesize(midi), 44100)
    (folder / "system.lmx").write_text((ROOT / "tests/data/olimpic_lmx/basics/grandstaff.lmx").read_text())
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def test_export_holds_params_configuration_and_codecs_and_is_marked_complete(run, export_dir, tmp_path):
    manifest = json.loads((export_dir / exported.MANIFEST).read_text())
    assert manifest["source"]["step"] == 2 and manifest["transformer"]["emb_dim"] == 64
    assert sorted(manifest["codecs"]) == ["audio", "image"] and (export_dir / "codecs/audio/codec.json").is_file()
    assert manifest["sampling"]["MIDI"] == {"temperature": 0.1, "top_p": 0.9}
    assert not list(export_dir.parent.glob("*.partial"))
    # no marker, or a changed file: never loaded
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(export_dir), str(broken)], check=True)
    (broken / exported.MARKER).unlink()
    with pytest.raises(decode.UserError, match="not a complete export"):
        exported.load(broken)
    exported.write_marker(broken)
    (broken / "model.json").write_text((broken / "model.json").read_text() + " ")
    with pytest.raises(decode.UserError, match="damaged"):
        exported.load(broken)
    with pytest.raises(decode.UserError, match="exists"):
        export.export(run, export_dir)
    with pytest.raises(decode.UserError, match="codebooks"):
        export.export(run, tmp_path / "wrong", image_codec=str(ROOT / "assets/codecs/audio_cpu"))
    assert not (tmp_path / "wrong").exists()
    empty = tmp_path / "empty_run"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "config.gin").write_text((run / "config.gin").read_text())
    with pytest.raises(decode.UserError, match="no checkpoint"):
        export.export(empty, tmp_path / "none")
    half = exported.load(export.export(run, tmp_path / "bf16", dtype="bfloat16"))
    assert {str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(half.params)} == {"bfloat16"}


def test_greedy_decoding_through_the_export_equals_predict_batch_on_the_checkpoint(run, translator, files):
    model = translator.model
    params, _ = checkpoints.restore_params(run, exported.abstract_params(model))
    units = translator.units(decode.parse_direction("image2lmx"), files / "page.png")
    batch = translator._batch(units, Modality.LMX, 2)
    greedy = decode.Translator(translator.exported, decode.DecodeSettings(temperature=0.0, max_length=24))
    np.testing.assert_array_equal(greedy.predict(batch, Modality.LMX, 24),
                                  np.asarray(model.predict_batch(params, batch, max_decode_length=24)))


def test_every_direction_writes_files_their_readers_accept(translator, files, tmp_path):
    sources = {Modality.IMAGE: files / "page.png", Modality.LMX: files / "system.lmx",
               Modality.MIDI: files / "tune.mid", Modality.AUDIO: files / "tune.flac"}
    audio_seconds = soundfile.info(files / "tune.flac").duration
    midi_seconds = pretty_midi.PrettyMIDI(str(files / "tune.mid")).get_end_time()
    for name in decode.DIRECTIONS:
        direction = decode.parse_direction(name)
        written = translator.translate(direction, sources[direction.source]).write(tmp_path / name)
        assert written, name
        for path in written:
            if path.suffix == ".musicxml":
                assert music21.converter.parse(str(path)).parts, name
            elif path.suffix == ".mid":
                pretty_midi.PrettyMIDI(str(path))
            elif path.suffix == ".wav":
                info = soundfile.info(path)
                assert info.samplerate == 44100 and info.channels == 1
                if name == "midi2audio":  # as long as the MIDI
                    assert abs(info.duration - midi_seconds) < 0.011, (info.duration, midi_seconds)
            elif path.suffix == ".png":
                assert Image.open(path).mode == "L"
    units = translator.units(decode.parse_direction("audio2midi"), sources[Modality.AUDIO])
    assert len(units) == int(np.ceil(audio_seconds / (np.ceil(WINDOW * 86.1328125) * 512 / 44100)))
    assert units[-1].start_seconds + units[-1].seconds == pytest.approx(audio_seconds, abs=1e-3)  # all of it heard
    assert len(translator.units(decode.parse_direction("image2lmx"), sources[Modality.IMAGE])) == 2  # two systems


def test_the_command_decodes_a_folder_without_tensorflow_and_reports_a_bad_file_in_one_line(export_dir, files, tmp_path):
    args = [sys.executable, "-c", WITHOUT_TENSORFLOW, "omr", str(files), "-o", str(tmp_path / "out"), "--model",
            str(export_dir), "--max-length", "16"]
    result = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "broken.png: not a readable image" in errors[0], result.stderr[-1500:]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["page.lmx", "page.musicxml"]
    missing = subprocess.run([sys.executable, "-m", "mt_music.decode", "omr", str(tmp_path / "nothing"), *args[5:]],
                             cwd=ROOT, env=ENV,
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith("error: INPUT:")
    assert subprocess.run([sys.executable, "-m", "mt_music.decode", "--help"], cwd=ROOT, capture_output=True,
                          timeout=600).returncode == 0


def test_all_directions_into_one_report_that_a_real_browser_renders(export_dir, files, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("page.png", "tune.mid", "tune.flac", "system.lmx"):
        (folder / name).write_bytes((files / name).read_bytes())
    page = tmp_path / "out" / "report.html"
    argv = ["amt,synthesis,omr,lmx2midi", str(folder), "-o", str(tmp_path / "out"), "--model", str(export_dir),
            "--max-length", "16", "--window-seconds", str(WINDOW), "--synthesis-window-seconds", str(WINDOW),
            "--overlap-seconds", "0.4", "--report", str(page)]
    assert decode.main(argv) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"tune_audio2midi.mid", "tune_midi2audio.wav", "page_image2lmx.musicxml", "system_lmx2midi.mid"} <= set(names)
    text = page.read_text()
    assert text.count("<section>") == 4 and "<audio" in text and 'alt="piano roll of tune.mid"' in text
    if browser.find_browser() is None:
        pytest.skip("Chromium is not installed (tools/install_system_deps.sh installs it): the page is not rendered")
    counts = browser.rendered_counts(page)
    assert counts["images-failed"] == 0 and counts["images-loaded"] >= 6 and counts["audio"] == 2
    shot = browser.screenshot(page, tmp_path / "report.png")
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1200) and (pixels < 128).mean() > 0.005  # text and music drawn, not a blank page


def test_pdf_pages_are_rasterized_and_cut_into_systems(translator, files, tmp_path):
    pdf = tmp_path / "score.pdf"
    Image.open(files / "page.png").convert("RGB").save(pdf)  # one page, the two systems
    units = translator.units(decode.parse_direction("omr"), pdf)
    assert len(units) == 2 and all(u.image is not None for u in units)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nothing")
    with pytest.raises(decode.UserError, match="not a readable PDF"):
        translator.units(decode.parse_direction("omr"), tmp_path / "broken.pdf")


def test_inputs_of_the_wrong_kind_are_named(translator, files, tmp_path):
    with pytest.raises(decode.UserError, match="must be one of"):
        translator.translate("audio2midi", files / "tune.mid")
    with pytest.raises(decode.UserError, match="not a direction"):
        decode.parse_direction("image2image")
    with pytest.raises(decode.UserError, match="no five-line staff"):
        blank = tmp_path / "blank.png"
        Image.new("L", (200, 100), 255).save(blank)
        translator.translate("image2lmx", blank)
    assert inputs.SUFFIXES[Modality.MIDI] == (".mid", ".midi")


def test_files_share_batches_and_decode_as_they_do_alone(export_dir, files, tmp_path):
    """translate_many (what the command runs): systems of two pages in one batch, MIDI→audio window i of two files
    in one batch, each continuing its own previous window; greedy outputs equal each file decoded alone; a bad
    file in between is yielded with its error."""
    greedy = decode.Translator(export_dir, decode.DecodeSettings(
        temperature=0.0, window_seconds=WINDOW, synthesis_window_seconds=WINDOW, overlap_seconds=0.4, max_length=24))
    calls = []
    predict = greedy.predict
    greedy.predict = lambda batch, *args: calls.append(len(batch["encoder_input_tokens"])) or predict(batch, *args)
    short = pretty_midi.PrettyMIDI()
    short.instruments.append(pretty_midi.Instrument(0))
    short.instruments[0].notes.append(pretty_midi.Note(80, 67, 0.1, 0.9))
    short.write(str(tmp_path / "short.mid"))
    midis = [files / "tune.mid", tmp_path / "broken.mid", tmp_path / "short.mid"]
    midis[1].write_bytes(b"MThd broken")
    together = list(greedy.translate_many("midi2audio", midis))
    assert [t.source for t in together] == midis and together[1].output is None and "broken.mid" in str(together[1].error)
    windows = [len(t.units) for t in together if t.error is None]
    assert windows == [windows[0], 1] and windows[0] > 1
    assert calls == [2] * windows[0]  # window i of both files in one call (one batch shape as the short one ends)
    calls.clear()
    alone = [greedy.translate("midi2audio", path) for path in (midis[0], midis[2])]
    assert calls == [1] * (windows[0] + 1)
    for shared, single in zip((together[0], together[2]), alone):
        np.testing.assert_allclose(shared.output.waveform, single.waveform, atol=1e-5)

    pages = [files / "page.png", files / "page.png"]
    calls.clear()
    scores = list(greedy.translate_many("image2lmx", pages))
    assert calls == [4]  # 2 systems × 2 pages: one batch
    assert scores[0].output.systems == scores[1].output.systems == greedy.translate("image2lmx", pages[0]).systems
