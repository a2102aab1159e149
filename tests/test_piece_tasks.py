"""SeqIO tasks over whole pieces (audio↔MIDI windows), the recipe mixtures and the postprocessors."""

from __future__ import annotations

import numpy as np
import pytest
import seqio
from system_records import LMX, piece_record, record
from test_system_tasks import write_split

from mt_music.data import curriculum, piece_windows, system_frames
from mt_music.evaluation import scoring
from mt_music.midi.notes import quantize_notes
from mt_music.tasks import datasets, mixtures, piece_tasks, postprocessors
from mt_music.vocabulary import Modality, UnifiedVocabulary

VOC = UnifiedVocabulary()


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    root = tmp_path_factory.mktemp("pieces")
    records = [piece_record(seed, seconds=12.5 + 4 * seed) for seed in range(2)]
    for split in ("train", "validation"):
        write_split(root / split, records)
    spec = datasets.DatasetSpec("fixture_pieces", str(root), (Modality.MIDI, Modality.AUDIO),
                                splits=("train", "validation"), level="piece")
    return spec, piece_tasks.register(spec), records


def _examples(name, split, seed=0):
    task = seqio.get_mixture_or_task(name)
    return list(task.get_dataset(None, split=split, shuffle=False, seed=seed).as_numpy_iterator())


def test_evaluation_windows_are_consecutive_and_stitch_into_whole_pieces(pieces):
    spec, names, records = pieces
    assert names == ["fixture_pieces_audio2midi", "fixture_pieces_midi2audio"]
    examples = _examples("fixture_pieces_audio2midi", "validation")
    by_piece = {}
    for example in examples:
        by_piece.setdefault(example["piece_id"].decode(), []).append(example)
    assert sorted(by_piece) == ["piece0/0", "piece1/0"]
    assert [int(e["window_index"]) for e in by_piece["piece1/0"]] == [0, 1]  # 16.5 s: two 10 s windows
    assert [float(e["window_start"]) for e in by_piece["piece1/0"]] == [0.0, 10.0]
    task = seqio.get_mixture_or_task("fixture_pieces_audio2midi")
    outputs = [task.postprocess_fn(e["targets"], example=e, is_target=True) for e in examples]
    ids = [e["id"].decode() for e in examples]
    stitched = scoring._stitched_pieces(outputs, outputs, ids, VOC)
    for piece, record_ in zip(sorted(by_piece), records):
        # one decoder over the windows: a note tied across a window edge comes back whole
        timing = lambda notes: sorted((n.start_step, n.end_step, n.pitch) for n in quantize_notes(notes, 100))  # noqa: E731
        assert timing(stitched[piece][0]) == timing(system_frames.record_notes(record_))
    scores = scoring.score_task("audio2midi", Modality.MIDI, outputs, outputs, ids, VOC)
    assert scores["audio2midi/onset_offset_f1"] == 1.0 and scores["audio2midi/pieces"] == 2
    for piece in by_piece:
        first = by_piece[piece][0]
        frames = first["inputs"][: int((first["inputs"][:, 0] > 0).sum())]
        assert len(frames) == 862  # ceil(10 s × 86.13)


def test_peer_notes_of_windows_are_joined_per_piece_and_scored_like_the_model(pieces):
    spec, names, records = pieces
    examples = _examples("fixture_pieces_audio2midi", "validation")
    assert all(e["window_audio"].size == 0 for e in examples)  # the fixture has no corpus store: no peer audio
    task = seqio.get_mixture_or_task("fixture_pieces_audio2midi")
    outputs = [task.postprocess_fn(e["targets"], example=e, is_target=True) for e in examples]
    ids = [e["id"].decode() for e in examples]
    truth = {piece: pair[0] for piece, pair in scoring._stitched_pieces(outputs, outputs, ids, VOC).items()}
    # a perfect peer: each window's notes as the reference has them, plus a copy of the next window's first
    # note (a window's audio runs a few ms past its end): the copy is dropped, not counted twice
    windows = []
    for output in outputs:
        start, piece = float(output["window_start"]), output["piece_id"]
        heard = [n for n in truth[piece] if start <= n.start < start + 10.0]
        windows.append(heard + [n for n in truth[piece] if n.start >= start + 10.0][:1])
    perfect = scoring.peer_scores("audio2midi", outputs, {"oracle": windows}, ids, VOC)
    assert perfect["audio2midi/peer_oracle_onset_f1"] == 1.0
    deaf = scoring.peer_scores("audio2midi", outputs, {"deaf": [[] for _ in outputs]}, ids, VOC)
    assert deaf["audio2midi/peer_deaf_onset_f1"] == 0.0
    assert scoring.peer_scores("audio2midi", outputs, {"partial": windows[:1]}, ids, VOC) == {}


def test_window_audio_is_the_corpus_waveform_shifted_as_the_baked_variant():
    record_ = {**piece_record(0, seconds=4.0), "audio_shifts": np.array([0, 7])}
    windows = piece_windows.PieceWindows([record_], VOC, 1.0)
    waveform = np.random.default_rng(0).standard_normal(4 * 44100).astype(np.float32)
    window = windows.consecutive(0)[2]
    cut = piece_tasks._window_audio(waveform, record_, windows, window, variant=1)
    start = window.start_frame * 512
    assert len(cut) == windows.frames_per_window * 512
    np.testing.assert_array_equal(cut, waveform[start - 7: start - 7 + len(cut)])  # delayed by 7 samples
    np.testing.assert_array_equal(piece_tasks._window_audio(waveform, record_, windows, window, 0),
                                  waveform[start: start + len(cut)])


def test_training_windows_are_random_and_seeded(pieces):
    starts = lambda seed: [float(e["window_start"]) for e in _examples("fixture_pieces_midi2audio", "train", seed)]  # noqa: E731
    assert starts(0) == starts(0) and starts(0) != starts(1)
    assert len(starts(0)) == 2 + 2  # as many random windows per piece as it has consecutive ones
    assert all(e["window_index"] == -1 for e in _examples("fixture_pieces_midi2audio", "train"))


def test_recipe_mixtures_read_amt_from_the_pieces():
    import mt_music.tasks  # noqa: F401

    mixture = seqio.get_mixture_or_task("mt_music_corpus_small_all_directions")
    names = sorted(task.name for task in mixture.tasks)
    assert len(names) == 12 and "mt_music_corpus_small_pieces_audio2midi" in names
    assert "mt_music_corpus_small_image2lmx" in names and "mt_music_corpus_small_audio2midi" not in names
    image_to_audio = seqio.get_mixture_or_task("mt_music_corpus_tiny_image_to_audio_eval")
    assert sorted(t.name for t in image_to_audio.tasks) == sorted(
        f"mt_music_corpus_tiny{'_pieces' if r.task == 'midi2audio' else ''}_{r.task}"
        for r in curriculum.RECIPES["image_to_audio"])
    assert mixtures.register(datasets.CORPUS[0])  # registering again replaces, never duplicates


def test_postprocessors_give_each_modality_the_form_its_metrics_read():
    r = record(0)
    lmx = postprocessors.for_modality(Modality.LMX)(system_frames.frames(VOC, r, Modality.LMX, output=True)[0])
    assert lmx["lmx"] == " ".join(system_frames.lmx_tokens({"lmx": LMX})) and lmx["repaired"] == 0
    image = postprocessors.for_modality(Modality.IMAGE)(system_frames.frames(VOC, r, Modality.IMAGE, output=True)[0])
    np.testing.assert_array_equal(image["grids"][0], system_frames.image_grid(r, 0))
    audio = postprocessors.for_modality(Modality.AUDIO)(system_frames.frames(VOC, r, Modality.AUDIO, output=True)[0])
    np.testing.assert_array_equal(audio["codes"], r["audio_codes"][0])
    midi = postprocessors.for_modality(Modality.MIDI)(system_frames.frames(VOC, r, Modality.MIDI, output=True)[0],
                                                      example={"window_start": np.float32(2.0)})
    assert [n.pitch for n in midi["notes"]] == [60, 64, 36] and midi["notes"][0].start == pytest.approx(2.0)
    broken = postprocessors.for_modality(Modality.LMX)(np.full((3, VOC.num_slots), VOC.midi_block.start + 5))
    assert broken["lmx"] == "" and broken["repaired"] == 3  # a model's mistake is counted, not fatal
