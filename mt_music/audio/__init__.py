"""Performance audio: I/O at the codec's rate (`io`) and FluidSynth synthesis (`synthesis`).

The I/O names are re-exported, so `from mt_music import audio; audio.load_audio(path)` reads
any file at 44.1 kHz mono; synthesis is imported on its own (it loads pretty_midi).
"""

from mt_music.audio.io import (  # noqa: F401
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    SAMPLE_RATE,
    SILENCE_THRESHOLD_DBFS,
    AudioError,
    audio_duration,
    decode_flac,
    encode_flac,
    frames_to_samples,
    frames_to_seconds,
    is_silent,
    load_audio,
    num_frames,
    peak_dbfs,
    resample,
    samples_to_seconds,
    seconds_to_frames,
    seconds_to_samples,
    slice_frames,
    slice_seconds,
    to_mono,
    write_audio,
)
