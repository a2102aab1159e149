"""Held-out codec metrics: pixel/ink fidelity, mel distance, SI-SDR and transcribability.

NumPy/librosa only (no JAX, no TensorFlow) so the evaluation script runs on any host. Losses say
how a codec trains; these say what a decoded score or recording is still good for: the notes a
score image keeps (ink), the sound a recording keeps (mel, SI-SDR), and whether a transcriber
still hears the notes (basic-pitch onset F1, the audio-side analogue of ink recall).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.signal

from mt_music.image import pixels, preprocessing
from mt_music.midi.metrics import F1Score, note_f1
from mt_music.midi.notes import Note

if TYPE_CHECKING:
    from mt_music.codecs import tokenizer

# DAC's multi-scale mel loss: one mel resolution per STFT window length, hop = window / 4.
MEL_WINDOW_LENGTHS = (32, 64, 128, 256, 512, 1024, 2048)
MEL_BANDS = (5, 10, 20, 40, 80, 160, 320)
MEL_CLAMP = 1e-5
BASIC_PITCH_PACKAGES = {"basic_pitch": "basic-pitch", "onnxruntime": "onnxruntime", "resampy": "resampy"}
BASIC_PITCH_INSTALL = (".venv/bin/pip install -r requirements-peers.txt && "
                       ".venv/bin/pip install --no-deps basic-pitch==0.4.0   (what `make` runs)")


# ------------------------------------------------------------------------------- images
def _unit_range(images) -> np.ndarray:
    """uint8 grey levels (0..255) or floats already in [-1, 1] -> float64 in [-1, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float64) / 127.5 - 1.0
    return images.astype(np.float64)


def mean_absolute_pixel_error(original, decoded) -> float:
    """Mean |original - decoded| in [-1, 1] units (max 2); uint8 inputs are mapped to [-1, 1] first,
    so the figure is comparable across both (× 127.5 gives grey levels)."""
    return float(np.mean(np.abs(_unit_range(original) - _unit_range(decoded))))


def _ink(images, threshold: float) -> np.ndarray:
    # Scores are black ink on white paper: a pixel darker than the threshold is ink.
    return _unit_range(images) < threshold


def ink_recall(original, decoded, threshold: float = 0.0) -> float:
    """Fraction of the original's ink pixels still ink after decoding: lost staff lines and note
    heads lower it, which a pixel error over mostly white paper hardly notices."""
    ink, kept = _ink(original, threshold), _ink(decoded, threshold)
    return _fraction(np.sum(ink & kept), np.sum(ink), empty=not kept.any())


def ink_precision(original, decoded, threshold: float = 0.0) -> float:
    """Fraction of the decoded ink pixels that are ink in the original: hallucinated marks lower it."""
    ink, drawn = _ink(original, threshold), _ink(decoded, threshold)
    return _fraction(np.sum(ink & drawn), np.sum(drawn), empty=not ink.any())


def _fraction(hits, total, *, empty: bool) -> float:
    # Same convention as F1Score: nothing to find and nothing found is perfect.
    return float(hits / total) if total else (1.0 if empty else 0.0)


# -------------------------------------------------------------------------------- audio
def _waveforms(reference, estimate) -> tuple[np.ndarray, np.ndarray]:
    """[T], [T, 1], [B, T] or [B, T, 1] -> float64 [B, T], both trimmed to the shorter length."""
    pair = []
    for audio in (reference, estimate):
        audio = np.asarray(audio, dtype=np.float64)
        if audio.ndim >= 2 and audio.shape[-1] == 1:
            audio = audio[..., 0]
        pair.append(audio.reshape(-1, audio.shape[-1]))
    length = min(pair[0].shape[-1], pair[1].shape[-1])
    return pair[0][:, :length], pair[1][:, :length]


def _log_mel(audio: np.ndarray, sample_rate: int, window: int, bands: int) -> np.ndarray:
    """log10 mel magnitudes [B, frames, bands] as DAC computes them (torch.stft, center, reflect)."""
    from librosa.filters import mel  # light part of librosa (its STFT module JIT-compiles on first import)

    padded = np.pad(audio, [(0, 0), (window // 2, window // 2)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, window, axis=-1)[:, :: window // 4]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)  # periodic, as scipy/torch
    with warnings.catch_warnings():  # short windows leave low mel bands empty; DAC accepts that too
        warnings.simplefilter("ignore")
        filters = mel(sr=sample_rate, n_fft=window, n_mels=bands, fmin=0.0, fmax=sample_rate / 2)
    return np.log10(np.maximum(np.abs(np.fft.rfft(frames * hann, axis=-1)) @ filters.T, MEL_CLAMP))


def multi_scale_mel_distance(reference, estimate, sample_rate: int) -> float:
    """Σ over DAC's 7 STFT scales of the mean L1 between log10 mel magnitudes (mean over the batch).

    The same number as the training loss `audio_losses.multi_scale_mel_loss` (unweighted), so
    held-out and training curves compare directly: Hann window, hop = window/4, magnitude mels
    clamped at 1e-5, Slaney filters. Divide by 7 for a per-scale average.
    """
    reference, estimate = _waveforms(reference, estimate)
    return float(sum(
        np.mean(np.abs(_log_mel(reference, sample_rate, window, bands) - _log_mel(estimate, sample_rate, window, bands)))
        for window, bands in zip(MEL_WINDOW_LENGTHS, MEL_BANDS)))


def si_sdr(reference, estimate, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB (mean over the batch): zero-mean, trimmed to the shorter signal,
    the estimate's projection on the reference is signal, the rest is distortion. Gain-blind, so it
    isolates what a codec changes in the waveform from loudness."""
    reference, estimate = _waveforms(reference, estimate)
    reference = reference - reference.mean(axis=-1, keepdims=True)
    estimate = estimate - estimate.mean(axis=-1, keepdims=True)
    scale = np.sum(estimate * reference, -1, keepdims=True) / (np.sum(reference**2, -1, keepdims=True) + eps)
    target = scale * reference
    noise = estimate - target
    ratio = (np.sum(target**2, -1) + eps) / (np.sum(noise**2, -1) + eps)
    return float(np.mean(10 * np.log10(ratio)))


# ---------------------------------------------------------------------- transcribability
def missing_basic_pitch_packages() -> list[str]:
    """Distribution names of what basic-pitch's ONNX path needs but this environment lacks."""
    return [dist for module, dist in BASIC_PITCH_PACKAGES.items() if importlib.util.find_spec(module) is None]


def basic_pitch_available() -> bool:
    return not missing_basic_pitch_packages()


def _import_basic_pitch():
    """Imports basic-pitch without TensorFlow: its __init__ imports TF when importable (seconds,
    and its TF model does not load under TF ≥ 2.16); blocking it makes the ONNX model the default."""
    missing = missing_basic_pitch_packages()
    if missing:
        raise ImportError(f"basic-pitch transcription needs {', '.join(missing)} (not installed); "
                          f"install with: {BASIC_PITCH_INSTALL}")
    blocked = [name for name in ("tensorflow", "coremltools", "tflite_runtime") if name not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))  # None in sys.modules makes `import name` fail
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # "X is not installed" warnings for every absent backend
    try:
        import basic_pitch
        from basic_pitch import constants, inference, note_creation
    finally:
        logging.disable(previous)
        for name in blocked:
            sys.modules.pop(name, None)
    return basic_pitch, constants, inference, note_creation


class BasicPitchTranscriber:
    """basic-pitch (Spotify, ICASSP 2022) on in-memory audio via the ONNX model in its wheel.

    Thresholds are basic-pitch's defaults. The model is loaded once per transcriber.
    """

    def __init__(self, onset_threshold: float = 0.5, frame_threshold: float = 0.3,
                 minimum_note_seconds: float = 0.1277, melodia_trick: bool = True, batch_size: int = 16):
        self.batch_size = batch_size
        basic_pitch, self._constants, self._inference, self._notes = _import_basic_pitch()
        import onnxruntime

        path = basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx)
        self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self._settings = dict(onset_thresh=onset_threshold, frame_thresh=frame_threshold,
                              min_note_len=int(round(minimum_note_seconds * self._constants.ANNOTATIONS_FPS)),
                              melodia_trick=melodia_trick, include_pitch_bends=False)

    def __call__(self, audio, sample_rate: int) -> list[Note]:
        """Mono waveform ([T] or [T, 1]) at any sample rate -> pitched notes (program 0)."""
        const = self._constants
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if sample_rate != const.AUDIO_SAMPLE_RATE:  # polyphase: librosa.resample would JIT-compile for seconds
            common = np.gcd(sample_rate, const.AUDIO_SAMPLE_RATE)
            audio = scipy.signal.resample_poly(audio, const.AUDIO_SAMPLE_RATE // common, sample_rate // common)
            audio = audio.astype(np.float32)
        overlap_frames = 30  # as basic_pitch.inference.run_inference: windows overlap, halves cut
        overlap = overlap_frames * const.FFT_HOP
        padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio])
        windows = np.stack([w for w, _ in self._inference.window_audio_file(padded, const.AUDIO_N_SAMPLES - overlap)])
        names = ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2", "StatefulPartitionedCall:0"]
        chunks = [self._session.run(names, {"serving_default_input_2:0": windows[i:i + self.batch_size]})
                  for i in range(0, len(windows), self.batch_size)]  # ≈ 2 s windows; bounds memory
        model_output = {key: self._inference.unwrap_output(np.concatenate([chunk[k] for chunk in chunks]), len(audio),
                                                           overlap_frames)
                        for k, key in enumerate(("note", "onset", "contour"))}
        _, events = self._notes.model_output_to_notes(model_output, **self._settings)
        notes = [Note(float(start), float(end), int(pitch), int(np.clip(round(127 * amplitude), 1, 127)))
                 for start, end, pitch, amplitude, _ in events]
        return sorted(notes, key=lambda note: (note.start, note.pitch))


@functools.lru_cache(maxsize=1)
def default_transcriber() -> BasicPitchTranscriber:
    return BasicPitchTranscriber()


def transcription_onset_f1(audio, sample_rate: int, reference_notes: Sequence[Note],
                           transcriber: BasicPitchTranscriber | None = None) -> F1Score:
    """Onset F1 (mir_eval, 50 ms) of basic-pitch's notes against the notes the audio should hold.

    Drums are dropped from the reference (basic-pitch transcribes pitched notes only); instruments
    are pooled. On FluidSynth renders of the corpus basic-pitch alone scores ≈ 0.8 (docs/design.md §8), so
    compare a codec's figure with the same transcriber on the uncompressed audio.
    """
    estimate = (transcriber or default_transcriber())(audio, sample_rate)
    return note_f1([note for note in reference_notes if not note.is_drum], estimate, with_offsets=False)


# ------------------------------------------------------------------ trained codecs on whole examples


def image_reconstruction(codec: tokenizer.TrainedCodec, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(original, decoded) in [-1, 1] for one stored system image (0..255), cut to the unpadded content."""
    content = pixels.to_model_range(image.astype(np.float32))
    padded = preprocessing.pad_to_multiple(content, fill=1.0)
    return content, codec.decode_image(codec.encode_image(padded))[: content.shape[0], : content.shape[1]]


def image_round_trip(codec: tokenizer.TrainedCodec, image: np.ndarray) -> dict[str, float]:
    """Encode → decode one stored system image (0..255); compared on the unpadded content."""
    return image_metrics(*image_reconstruction(codec, image))


LIGHT_INK_THRESHOLD = 0.5  # grey 191: also counts the 1 px staff lines the 18 px scale leaves grey (≈ 171)


def image_metrics(content: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """Pixel MAE, ink recall / precision, and light-ink recall: whether staff and ledger lines survive."""
    return {"pixel_mae": mean_absolute_pixel_error(content, decoded),
            "light_ink_recall": ink_recall(content, decoded, LIGHT_INK_THRESHOLD),
            "ink_recall": ink_recall(content, decoded),
            "ink_precision": ink_precision(content, decoded)}


def audio_round_trip(codec: tokenizer.TrainedCodec, waveform: np.ndarray, notes, transcribe: bool) -> dict[str, float]:
    """Encode → decode one performance; with `transcribe`, basic-pitch onset F1 on both against `notes`."""
    decoded = codec.decode_audio(codec.encode_audio(waveform))[: len(waveform)]
    result = {"mel_distance": multi_scale_mel_distance(waveform, decoded, codec.sample_rate),
              "si_sdr_db": si_sdr(waveform, decoded)}
    if transcribe and notes:
        result["onset_f1_original"] = transcription_onset_f1(waveform, codec.sample_rate, notes).f1
        result["onset_f1_decoded"] = transcription_onset_f1(decoded, codec.sample_rate, notes).f1
    return result


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means over examples, plus transcribability (decoded onset F1 relative to the original's)."""
    names = sorted({name for row in rows for name in row})
    means = {name: float(np.mean([row[name] for row in rows if name in row])) for name in names}
    if "onset_f1_original" in means:  # transcribability: decoded F1 relative to the original's
        means["transcribability"] = means["onset_f1_decoded"] / max(means["onset_f1_original"], 1e-9)
    return means
