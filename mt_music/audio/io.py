"""Audio I/O at the codec's rate: 44.1 kHz mono float32, hop 512 (86.13 frames/s; docs/design.md §3.4).

Reading tries soundfile (libsndfile: WAV, FLAC, OGG, MP3 …) first and falls back to audioread
(ffmpeg/gstreamer: m4a, webm, anything ffmpeg decodes). Every failure — unreadable, empty or
silent input — is an `AudioError` with a one-line message, so dataset builders can skip and report.
"""

from __future__ import annotations

import io as _io
import math
import warnings
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
HOP_LENGTH = 512
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  # 86.1328…
# Peak below this is "silent": 16-bit dither/noise floors sit near -90 dBFS, real music peaks
# far above -30 dBFS; -60 dBFS (0.1% of full scale) separates the two with margin.
SILENCE_THRESHOLD_DBFS = -60.0

PathLike = str | Path


class AudioError(Exception):
    """Unreadable, empty or silent audio; the message is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


# ---------------------------------------------------------------------------------------------------
# Time ↔ samples ↔ codec frames
# ---------------------------------------------------------------------------------------------------


def seconds_to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Nearest sample index of a time."""
    return round(seconds * sample_rate)


def samples_to_seconds(samples: int, sample_rate: int = SAMPLE_RATE) -> float:
    return samples / sample_rate


def seconds_to_frames(seconds: float, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> int:
    """Index of the codec frame that contains a time (frame f covers samples [f·hop, (f+1)·hop))."""
    return math.floor(seconds * sample_rate / hop_length + 1e-9)


def frames_to_seconds(frames: float, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH) -> float:
    """Start time of a codec frame."""
    return frames * hop_length / sample_rate


def frames_to_samples(frames: int, hop_length: int = HOP_LENGTH) -> int:
    return int(frames) * hop_length


def num_frames(num_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Codec frames needed to cover `num_samples` (the codec pads the last partial hop)."""
    return -(-int(num_samples) // hop_length)


def slice_seconds(
    audio: np.ndarray, start_s: float | None = None, end_s: float | None = None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """audio[start_s : end_s] by time; None means the beginning / end."""
    start = 0 if start_s is None else max(0, seconds_to_samples(start_s, sample_rate))
    end = len(audio) if end_s is None else max(start, seconds_to_samples(end_s, sample_rate))
    return audio[start:end]


def slice_frames(audio: np.ndarray, start_frame: int, end_frame: int, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """The samples of codec frames [start_frame, end_frame)."""
    return audio[frames_to_samples(start_frame, hop_length) : frames_to_samples(end_frame, hop_length)]


# ---------------------------------------------------------------------------------------------------
# Signal helpers
# ---------------------------------------------------------------------------------------------------


def to_mono(samples: np.ndarray) -> np.ndarray:
    """[n] or [n, channels] → [n] float32 (channel mean)."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


def resample(audio: np.ndarray, from_rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality resampling (soxr)."""
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate or audio.size == 0:
        return audio
    import soxr

    return soxr.resample(audio, from_rate, to_rate, quality="HQ").astype(np.float32)


def peak_dbfs(audio: np.ndarray) -> float:
    """Peak level in dB relative to full scale (1.0); -inf for all-zero audio."""
    peak = float(np.max(np.abs(audio))) if np.size(audio) else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def is_silent(audio: np.ndarray, threshold_dbfs: float = SILENCE_THRESHOLD_DBFS) -> bool:
    return peak_dbfs(audio) < threshold_dbfs


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def load_audio(
    path: PathLike,
    sample_rate: int = SAMPLE_RATE,
    start_s: float | None = None,
    end_s: float | None = None,
    allow_silence: bool = False,
    silence_threshold_dbfs: float = SILENCE_THRESHOLD_DBFS,
) -> np.ndarray:
    """Reads [start_s, end_s) of a file as mono float32 at `sample_rate`.

    Raises `AudioError` when the file is missing or undecodable, the (sliced) audio has no
    samples, or — unless `allow_silence` — its peak is below `silence_threshold_dbfs`.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise AudioError(f"{path}: empty time range {start_s}–{end_s} s")
    samples, native_rate = _read_native(path, start_s, end_s)
    audio = resample(to_mono(samples), native_rate, sample_rate)
    if end_s is not None:  # resampling may overshoot the requested span by a sample
        audio = audio[: seconds_to_samples(end_s - (start_s or 0.0), sample_rate)]
    if audio.size == 0:
        where = "" if start_s is None and end_s is None else f" in {start_s or 0}–{end_s or 'end'} s"
        raise AudioError(f"{path}: empty audio (no samples{where})")
    if not allow_silence and is_silent(audio, silence_threshold_dbfs):
        raise AudioError(
            f"{path}: silent audio (peak {peak_dbfs(audio):.1f} dBFS is below {silence_threshold_dbfs:.0f} dBFS)"
        )
    return audio


def audio_duration(path: PathLike) -> float:
    """Duration in seconds, from the header when libsndfile can read it (else by decoding)."""
    import soundfile

    try:
        return float(soundfile.info(str(path)).duration)
    except Exception:  # noqa: BLE001 - any libsndfile failure → decode instead
        samples, rate = _read_native(Path(path), None, None)
        return len(samples) / rate


def _read_native(path: Path, start_s: float | None, end_s: float | None) -> tuple[np.ndarray, int]:
    """Samples [n, channels] float32 at the file's own rate; soundfile, then audioread."""
    try:
        return _read_with_soundfile(path, start_s, end_s)
    except Exception as soundfile_error:  # noqa: BLE001 - libsndfile raises several types
        try:
            return _read_with_audioread(path, start_s, end_s)
        except Exception as audioread_error:
            raise AudioError(
                f"{path}: unreadable audio (soundfile: {_reason(soundfile_error)}; "
                f"audioread: {_reason(audioread_error)})"
            ) from audioread_error


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _read_with_soundfile(path: Path, start_s: float | None, end_s: float | None) -> tuple[np.ndarray, int]:
    import soundfile

    with soundfile.SoundFile(str(path)) as handle:
        rate = handle.samplerate
        start = seconds_to_samples(start_s, rate) if start_s else 0
        stop = seconds_to_samples(end_s, rate) if end_s is not None else None
        if start:
            handle.seek(min(start, handle.frames))
        count = -1 if stop is None else max(0, stop - start)
        samples = handle.read(frames=count, dtype="float32", always_2d=True)
    return samples, rate


def _read_with_audioread(path: Path, start_s: float | None, end_s: float | None) -> tuple[np.ndarray, int]:
    """Decodes 16-bit PCM blocks, stopping once past `end_s`."""
    import audioread

    with warnings.catch_warnings():  # choosing a backend imports aifc/audioop/sunau (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        decoder = audioread.audio_open(str(path))
    with decoder:
        rate, channels = decoder.samplerate, decoder.channels
        start = seconds_to_samples(start_s, rate) if start_s else 0
        stop = seconds_to_samples(end_s, rate) if end_s is not None else None
        blocks, decoded = [], 0
        for buffer in decoder:
            block = np.frombuffer(buffer, dtype="<i2").reshape(-1, channels)
            blocks.append(block)
            decoded += len(block)
            if stop is not None and decoded >= stop:
                break
    pcm = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.int16)
    return pcm[start:stop].astype(np.float32) / 32768.0, rate


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def write_audio(path: PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype: str | None = None) -> Path:
    """Writes mono/multichannel float audio; the format follows the suffix (.wav, .flac, .ogg).

    Integer subtypes (WAV/FLAC default PCM_16) get the signal clipped to [-1, 1] first.
    """
    import soundfile

    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if subtype is None or subtype.startswith("PCM"):
        audio = np.clip(audio, -1.0, 1.0)
    try:
        soundfile.write(str(path), audio, sample_rate, subtype=subtype)
    except Exception as error:
        raise AudioError(f"{path}: cannot write audio ({_reason(error)})") from error
    return path


# ---------------------------------------------------------------------------------------------------
# FLAC bytes (how datasets store performances)
# ---------------------------------------------------------------------------------------------------


def encode_flac(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit FLAC bytes (lossless for the 16-bit signal FluidSynth produces)."""
    import soundfile

    buffer = _io.BytesIO()
    soundfile.write(buffer, np.clip(waveform, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def decode_flac(data: bytes) -> tuple[np.ndarray, int]:
    """(mono float32 waveform, sample rate) of FLAC bytes."""
    import soundfile

    waveform, rate = soundfile.read(_io.BytesIO(data), dtype="float32", always_2d=False)
    if waveform.ndim > 1:
        waveform = waveform.mean(axis=1)
    return waveform, rate
