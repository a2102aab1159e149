"""Audio I/O (mt_music.audio): formats, resampling, slicing, clear errors."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from mt_music import audio

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is missing, cannot make MP3/M4A test files")


def sine(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum) * rate / len(signal))


def ffmpeg_convert(source, target, *codec_args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-i", str(source), *codec_args, str(target)], check=True)


def test_constants_and_conversions():
    assert audio.SAMPLE_RATE == 44100 and audio.HOP_LENGTH == 512
    assert audio.FRAMES_PER_SECOND == pytest.approx(86.13, abs=0.005)
    assert audio.seconds_to_frames(1.0) == 86
    assert audio.seconds_to_frames(audio.frames_to_seconds(1750)) == 1750
    assert audio.frames_to_seconds(1750) == pytest.approx(20.32, abs=0.01)  # max frames ≈ 20.3 s
    assert audio.num_frames(44100) == 87 and audio.num_frames(1024) == 2
    assert audio.frames_to_samples(3) == 1536 and audio.seconds_to_samples(0.5) == 22050
    assert audio.samples_to_seconds(22050) == 0.5
    signal = np.arange(44100 * 2, dtype=np.float32)
    assert audio.slice_seconds(signal, 0.5, 1.0).tolist() == signal[22050:44100].tolist()
    assert len(audio.slice_seconds(signal, end_s=0.25)) == 11025
    assert audio.slice_frames(signal, 2, 4).tolist() == signal[1024:2048].tolist()


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_round_trip_soundfile_formats(tmp_path, suffix):
    tone = sine(440.0, 1.0, audio.SAMPLE_RATE)
    stereo = np.stack([tone, tone], axis=1)
    path = tmp_path / f"tone{suffix}"
    soundfile.write(str(path), stereo, audio.SAMPLE_RATE)
    loaded = audio.load_audio(path)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    assert abs(len(loaded) - len(tone)) <= 1024  # Vorbis may pad a block
    assert dominant_frequency(loaded, audio.SAMPLE_RATE) == pytest.approx(440.0, abs=2.0)
    if suffix != ".ogg":  # lossless: sample-exact up to 16-bit quantization
        np.testing.assert_allclose(loaded, tone, atol=1e-3)


def test_write_audio_round_trip_and_clipping(tmp_path):
    loud = sine(220.0, 0.5, audio.SAMPLE_RATE, amplitude=1.5)
    for suffix in (".wav", ".flac"):
        path = audio.write_audio(tmp_path / f"out{suffix}", loud)
        back = audio.load_audio(path)
        assert back.max() <= 1.0 and back.max() > 0.99
    with pytest.raises(audio.AudioError, match="cannot write"):
        audio.write_audio(tmp_path / "missing-dir" / "x.wav", loud)


@needs_ffmpeg
def test_mp3_and_ffmpeg_only_formats(tmp_path):
    wav = tmp_path / "tone.wav"
    soundfile.write(str(wav), sine(1000.0, 1.0, audio.SAMPLE_RATE), audio.SAMPLE_RATE)
    mp3, m4a = tmp_path / "tone.mp3", tmp_path / "tone.m4a"
    ffmpeg_convert(wav, mp3, "-b:a", "128k")
    ffmpeg_convert(wav, m4a, "-c:a", "aac")
    for path in (mp3, m4a):  # m4a is not readable by libsndfile: exercises the audioread fallback
        loaded = audio.load_audio(path)
        assert abs(len(loaded) - audio.SAMPLE_RATE) < 4096, path.suffix
        assert dominant_frequency(loaded, audio.SAMPLE_RATE) == pytest.approx(1000.0, abs=3.0)
    sliced = audio.load_audio(m4a, start_s=0.25, end_s=0.5)
    assert len(sliced) == audio.seconds_to_samples(0.25)


def test_resampling_to_44k(tmp_path):
    path = tmp_path / "low.wav"
    soundfile.write(str(path), sine(1000.0, 1.0, 22050), 22050)
    loaded = audio.load_audio(path)
    assert abs(len(loaded) - 44100) <= 2
    assert dominant_frequency(loaded, audio.SAMPLE_RATE) == pytest.approx(1000.0, abs=1.5)
    at_16k = audio.load_audio(path, sample_rate=16000)
    assert abs(len(at_16k) - 16000) <= 2


def test_slicing_by_seconds(tmp_path):
    ramp = np.linspace(-0.9, 0.9, 3 * audio.SAMPLE_RATE, dtype=np.float32)
    path = tmp_path / "ramp.flac"
    soundfile.write(str(path), ramp, audio.SAMPLE_RATE, subtype="PCM_24")
    part = audio.load_audio(path, start_s=1.0, end_s=1.5)
    assert len(part) == audio.SAMPLE_RATE // 2
    np.testing.assert_allclose(part, ramp[44100:66150], atol=1e-5)
    assert len(audio.load_audio(path, start_s=2.5)) == audio.SAMPLE_RATE // 2
    assert audio.audio_duration(path) == pytest.approx(3.0)


def _single_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_errors_are_clear(tmp_path):
    with pytest.raises(audio.AudioError, match="no such audio file") as error:
        audio.load_audio(tmp_path / "nope.wav")
    _single_line(error)

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00not really audio\n\x00" * 10)
    with pytest.raises(audio.AudioError, match="unreadable audio") as error:
        audio.load_audio(garbage)
    _single_line(error)

    empty = tmp_path / "empty.wav"
    soundfile.write(str(empty), np.zeros(0, np.float32), audio.SAMPLE_RATE)
    with pytest.raises(audio.AudioError, match="empty audio"):
        audio.load_audio(empty)

    short = tmp_path / "short.wav"
    soundfile.write(str(short), sine(440.0, 1.0, audio.SAMPLE_RATE), audio.SAMPLE_RATE)
    with pytest.raises(audio.AudioError, match="empty audio"):
        audio.load_audio(short, start_s=5.0, end_s=6.0)
    with pytest.raises(audio.AudioError, match="empty time range"):
        audio.load_audio(short, start_s=0.5, end_s=0.5)

    for level in (0.0, 10 ** (-70 / 20)):  # digital silence and a -70 dBFS hiss
        quiet = tmp_path / "quiet.wav"
        soundfile.write(str(quiet), np.full(4410, level, np.float32), audio.SAMPLE_RATE, subtype="FLOAT")
        with pytest.raises(audio.AudioError, match="silent audio") as error:
            audio.load_audio(quiet)
        assert "-60 dBFS" in _single_line(error)
        assert len(audio.load_audio(quiet, allow_silence=True)) == 4410
    assert audio.is_silent(np.zeros(10)) and not audio.is_silent(np.full(10, 0.01))
    assert audio.peak_dbfs(np.full(3, 0.5)) == pytest.approx(-6.02, abs=0.01)
