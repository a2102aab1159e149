"""Codec evaluation metrics on constructed inputs whose right answer is known."""

import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

from mt_music.audio import synthesis
from mt_music.codecs import evaluation
from mt_music.midi.notes import Note

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------------------- images
def _staff(width=64, height=48) -> np.ndarray:
    """White page in [-1, 1] with five 1-px staff lines and a 4×5 note head."""
    page = np.ones((height, width))
    for row in (8, 16, 24, 32, 40):
        page[row] = -1.0
    page[18:22, 30:35] = -1.0
    return page


def test_mean_absolute_pixel_error_is_in_unit_range_for_floats_and_uint8():
    page = _staff()
    blank = np.ones_like(page)
    ink_pixels = np.sum(page < 0)
    assert evaluation.mean_absolute_pixel_error(page, page) == 0.0
    assert evaluation.mean_absolute_pixel_error(page, blank) == pytest.approx(2 * ink_pixels / page.size)
    as_uint8 = np.round((page + 1) * 127.5).astype(np.uint8)
    assert evaluation.mean_absolute_pixel_error(as_uint8, np.full_like(as_uint8, 255)) == pytest.approx(
        evaluation.mean_absolute_pixel_error(page, blank))


def test_removing_a_staff_line_lowers_ink_recall_by_its_share_of_the_ink():
    page = _staff()[None, :, :, None]  # [B, H, W, 1] like the codec's batches
    decoded = page.copy()
    decoded[0, 16, :, 0] = 0.9  # one line gone (faded to near-white)
    ink = np.sum(page < 0)
    assert evaluation.ink_recall(page, page) == 1.0
    assert evaluation.ink_recall(page, decoded) == pytest.approx(1 - page.shape[2] / ink)
    assert evaluation.ink_precision(page, decoded) == 1.0  # nothing drawn that is not in the original


def test_hallucinated_ink_lowers_precision_not_recall():
    page = _staff()
    decoded = page.copy()
    decoded[2:6, 2:12] = -0.5  # a 4×10 smudge on white paper
    ink = np.sum(page < 0)
    assert evaluation.ink_recall(page, decoded) == 1.0
    assert evaluation.ink_precision(page, decoded) == pytest.approx(ink / (ink + 40))
    blank = np.ones_like(page)
    assert evaluation.ink_recall(blank, blank) == evaluation.ink_precision(blank, blank) == 1.0
    assert evaluation.ink_recall(page, blank) == evaluation.ink_precision(page, blank) == 0.0


# -------------------------------------------------------------------------------- audio
def _tone(seconds=1.0, sample_rate=16000) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)


def _with_noise(signal: np.ndarray, snr_db: float) -> np.ndarray:
    noise = RNG.normal(size=signal.shape)
    noise *= np.sqrt(np.sum(signal**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return signal + noise


def test_si_sdr_is_high_for_identical_and_rescaled_signals():
    tone = _tone()
    assert evaluation.si_sdr(tone, tone) > 60
    assert evaluation.si_sdr(tone, 0.3 * tone + 0.1) > 60  # gain and DC offset do not count
    longer = np.concatenate([0.3 * tone, np.ones(500, np.float32)])[:, None]  # [T, 1], trimmed
    assert evaluation.si_sdr(tone, longer) > 60


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_si_sdr_recovers_a_known_signal_to_noise_ratio(snr_db):
    tone = _tone()
    assert evaluation.si_sdr(tone, _with_noise(tone, snr_db)) == pytest.approx(snr_db, abs=0.3)


def test_mel_distance_is_zero_for_identical_audio_and_grows_with_noise():
    batch = np.stack([_tone(), _tone()[::-1]])[..., None]  # [B, T, 1]
    assert evaluation.multi_scale_mel_distance(batch, batch, 16000) == 0.0
    distances = [evaluation.multi_scale_mel_distance(batch, _with_noise(batch, snr), 16000) for snr in (30, 10, 0)]
    assert 0 < distances[0] < distances[1] < distances[2]


# ---------------------------------------------------------------------- transcribability
def test_missing_basic_pitch_is_reported_with_the_install_command(monkeypatch):
    find_spec = evaluation.importlib.util.find_spec
    monkeypatch.setattr(evaluation.importlib.util, "find_spec",
                        lambda name, *args: None if name == "basic_pitch" else find_spec(name, *args))
    assert not evaluation.basic_pitch_available()
    assert evaluation.missing_basic_pitch_packages() == ["basic-pitch"]
    with pytest.raises(ImportError, match=r"needs basic-pitch.*pip install --no-deps basic-pitch==0\.4\.0"):
        evaluation.BasicPitchTranscriber()


def test_importing_the_module_loads_neither_basic_pitch_nor_tensorflow_nor_jax():
    code = ("import sys, mt_music.codecs.evaluation as e; "
            "print([m for m in ('basic_pitch', 'tensorflow', 'jax') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.fixture(scope="module")
def transcriber():
    try:
        return evaluation.BasicPitchTranscriber()
    except ImportError as error:  # names the missing package (ours, or Python's "No module named ...")
        pytest.skip(f"basic-pitch cannot be imported: {error}")


def test_basic_pitch_transcribes_a_synthesized_melody(transcriber):
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    reference = [Note(0.25 + 0.4 * i, 0.6 + 0.4 * i, pitch, 90)
                 for i, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64])]
    reference += [Note(4.5, 5.3, pitch, 90) for pitch in (48, 55, 64)]  # a closing chord
    piano.notes = [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=n.end) for n in reference]
    midi.instruments.append(piano)
    audio = synthesis.synthesize(midi, "TimGM6mb", sample_rate=44100)  # resampled to 22.05 kHz inside

    notes = transcriber(audio, 44100)
    assert notes and all(isinstance(note, Note) and 1 <= note.velocity <= 127 for note in notes)
    drum = Note(1.0, 1.1, 38, is_drum=True)  # basic-pitch hears no drums: left out of the reference
    score = evaluation.transcription_onset_f1(audio, 44100, [*reference, drum], transcriber)
    assert score.num_reference == len(reference)
    assert score.f1 >= 0.7, score
    assert sys.modules.get("tensorflow", "absent") is not None  # the import-time block on TF is lifted
