"""The CPU audio codec (log-mel RVQ by residual k-means, Griffin-Lim decoding) on FluidSynth audio and tones."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from codec_testing import performance

from mt_music.codecs import fitted, spectral_audio, tokenizer
from mt_music.errors import UserError

TINY = spectral_audio.SpectralAudioConfig(codebook_size=16, train_frames=4000, kmeans_iterations=4,
                                          griffin_lim_iterations=16)
RATE = 44100


def tone(frequency: float, seconds: float, start: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t) * (t >= start)).astype(np.float32)


@functools.cache
def tiny_codec() -> spectral_audio.SpectralAudioCodec:
    waveforms = [performance(3.0), tone(440.0, 1.0), tone(660.0, 1.0, start=0.5)]
    return spectral_audio.SpectralAudioCodec.fit(TINY, waveforms)


@pytest.mark.parametrize("samples", [1, 511, 512, 513, 44100])
def test_one_code_frame_per_started_hop(samples):
    codes = tiny_codec().encode_audio(np.zeros(samples, np.float32) + 0.01)
    assert codes.shape == (max(1, -(-samples // 512)), 4) and codes.dtype == np.int32
    assert 0 <= codes.min() and codes.max() < 16
    assert tiny_codec().decode_audio(codes).shape == (codes.shape[0] * 512,)


def test_decoded_tone_keeps_its_pitch_and_onset():
    codec = tiny_codec()
    decoded = codec.decode_audio(codec.encode_audio(tone(660.0, 1.0, start=0.5)))
    spectrum = np.abs(np.fft.rfft(decoded[RATE // 2 + 2048: RATE - 2048]))
    peak = np.fft.rfftfreq(RATE // 2 - 4096, 1 / RATE)[np.argmax(spectrum)]
    assert abs(peak - 660.0) < 25.0, peak
    energy = np.abs(decoded)
    assert energy[: RATE // 2 - 2048].mean() < 0.1 * energy[RATE // 2 + 2048:].mean()


def test_every_stage_brings_the_mels_closer():
    codec = tiny_codec()
    audio = performance(3.0)
    codes = codec.encode_audio(audio)
    target = spectral_audio.log_mel(audio, codec.config)
    errors = [np.mean((np.log(codec.decode_mel(codes[:, :k]) + codec.config.floor) - target) ** 2) for k in (1, 2, 4)]
    assert errors[0] > errors[1] > errors[2], errors


def test_fit_is_deterministic_and_round_trips_through_the_tokenizer(tmp_path):
    codec = tiny_codec()
    again = spectral_audio.SpectralAudioCodec.fit(TINY, [performance(3.0), tone(440.0, 1.0), tone(660.0, 1.0, start=0.5)])
    assert all(np.array_equal(codec.arrays[name], again.arrays[name]) for name in codec.arrays)
    codec.save(tmp_path / "codec")
    loaded = tokenizer.load_codec(tmp_path / "codec")
    assert isinstance(loaded, spectral_audio.SpectralAudioCodec) and loaded.sample_rate == RATE
    codes = codec.encode_audio(performance(1.0))
    assert np.array_equal(loaded.encode_audio(performance(1.0)), codes)
    assert np.array_equal(loaded.decode_audio(codes), codec.decode_audio(codes))
    arrays = tmp_path / "codec" / fitted.ARRAYS_FILE
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the codebooks
    arrays.write_bytes(bytes(data))
    with pytest.raises(UserError, match="checksum"):
        tokenizer.load_codec(tmp_path / "codec")


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="mono"):
        tiny_codec().encode_audio(np.zeros((1000, 2), np.float32))
    with pytest.raises(ValueError, match="codes must be in"):
        tiny_codec().decode_audio(np.full((3, 4), 16))
    with pytest.raises(UserError, match="too little audio"):
        spectral_audio.SpectralAudioCodec.fit(spectral_audio.SpectralAudioConfig(), [tone(440.0, 0.5)])


def test_decoding_median_removes_frame_jitter_but_keeps_steps():
    codec = tiny_codec()
    quiet = codec.encode_audio(np.zeros(RATE // 2, np.float32))[10]
    loud = codec.encode_audio(tone(440.0, 0.5))[10]
    step = np.tile(quiet, (40, 1))
    step[20:] = loud
    jitter = step.copy()
    jitter[10] = loud  # one frame of level that frame-by-frame quantization can invent
    smooth = codec.decode_mel(jitter)
    raw = spectral_audio.SpectralAudioCodec(dataclasses.replace(codec.config, median_frames=1), codec.arrays)
    assert raw.decode_mel(jitter)[10].sum() > 2 * smooth[10].sum()
    assert np.allclose(smooth[10], smooth[5]) and np.allclose(smooth[25:], raw.decode_mel(step)[25:])
    assert smooth[22].sum() > 2 * smooth[17].sum()  # the onset stays where it was


@pytest.mark.parametrize("setting", [{"beam_width": 0}, {"median_frames": 4}, {"floor": -0.1},
                                     {"codebook_size": 0}])
def test_bad_settings_are_refused_by_name(setting):
    name = next(iter(setting))
    with pytest.raises(UserError, match=f"SpectralAudioConfig.{name} = "):
        spectral_audio.SpectralAudioConfig(**setting)
