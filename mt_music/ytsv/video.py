"""ffmpeg by subprocess: what a video holds, its frames as grayscale at a few per second, its audio.

Frames stream one at a time through a pipe as PGM images (each carries its own size, so rotated or
anamorphic videos need no guessing), so memory stays at one frame whatever the video's length.
`fps=R:round=up:start_time=0` makes check k the frame on screen at time k/R exactly. Any failure —
not a video, damaged, no audio — is a `VideoError` (a UserError) with ffmpeg's own last line.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np

from mt_music.audio.io import SAMPLE_RATE
from mt_music.errors import UserError

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"


class VideoError(UserError):
    """The file is not a video ffmpeg can read (damaged, truncated, no picture or no sound)."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds (the container's, else the longest stream's)
    width: int
    height: int
    audio_start: float  # seconds; the audio stream's start on the container timeline


def _tool(name: str) -> str:
    path = FFMPEG if name == "ffmpeg" else FFPROBE
    if not pathlib.Path(path).exists():
        raise VideoError(f"{name} not found; install it (apt-get install ffmpeg)")
    return path


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def probe(path: str | pathlib.Path) -> VideoInfo:
    """Duration, picture size and audio start; VideoError unless it has a picture and a sound stream."""
    path = pathlib.Path(path)
    command = [_tool("ffprobe"), "-v", "error", "-show_entries",
               "stream=codec_type,width,height,start_time,duration:format=duration", "-of", "json", str(path)]
    completed = subprocess.run(command, capture_output=True, check=False)
    if completed.returncode:
        raise VideoError(f"{path}: not a readable video ({_last_line(completed.stderr)})")
    try:
        described = json.loads(completed.stdout or b"{}")
    except json.JSONDecodeError as error:
        raise VideoError(f"{path}: ffprobe gave unreadable output ({error})") from error
    streams = described.get("streams", [])
    pictures = [s for s in streams if s.get("codec_type") == "video" and s.get("width")]
    sounds = [s for s in streams if s.get("codec_type") == "audio"]
    if not pictures:
        raise VideoError(f"{path}: no video stream (is it an audio file?)")
    if not sounds:
        raise VideoError(f"{path}: no audio stream (a score-following video needs its performance)")
    durations = [_number(described.get("format", {}).get("duration"))]
    durations += [_number(s.get("duration")) for s in streams]
    duration = next((d for d in durations if d and d > 0), None)
    if duration is None:
        raise VideoError(f"{path}: the video has no duration (damaged or empty)")
    return VideoInfo(duration, int(pictures[0]["width"]), int(pictures[0]["height"]),
                     _number(sounds[0].get("start_time")) or 0.0)


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def sample_frames(path: str | pathlib.Path, rate: float) -> Iterator[np.ndarray]:
    """Grayscale uint8 frames [H, W]: frame k is what the video shows at time k / rate."""
    path = pathlib.Path(path)
    command = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-i", str(path), "-an", "-sn",
               "-vf", f"fps={rate}:round=up:start_time=0,format=gray", "-f", "image2pipe", "-c:v", "pgm", "pipe:"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    count = 0
    try:
        while True:
            frame = _read_pgm(process.stdout)
            if frame is None:
                break
            count += 1
            yield frame
    finally:
        process.stdout.close()
        stderr = process.stderr.read()
        process.stderr.close()
        code = process.wait()
    if code or not count:
        raise VideoError(f"{path}: cannot decode its frames ({_last_line(stderr)})")


def _read_pgm(stream) -> np.ndarray | None:
    """One binary PGM (P5) image from the stream; None at its end."""
    fields: list[bytes] = []
    while len(fields) < 4:  # magic, width, height, maxval — separated by whitespace
        token = b""
        while True:
            char = stream.read(1)
            if not char:
                if token or fields:
                    raise VideoError("ffmpeg's frame stream ended inside a frame header")
                return None
            if char.isspace():
                if token:
                    break
                continue
            token += char
        fields.append(token)
    if fields[0] != b"P5" or int(fields[3]) > 255:
        raise VideoError(f"unexpected frame format from ffmpeg ({fields[0]!r}, maxval {fields[3]!r})")
    width, height = int(fields[1]), int(fields[2])
    data = stream.read(width * height)
    if len(data) != width * height:
        raise VideoError("ffmpeg's frame stream ended inside a frame")
    return np.frombuffer(data, np.uint8).reshape(height, width)


def extract_audio(path: str | pathlib.Path, info: VideoInfo | None = None,
                  sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole soundtrack, mono float32 at `sample_rate`, aligned to the picture's timeline (time 0)."""
    path = pathlib.Path(path)
    command = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-sn", "-ac", "1",
               "-ar", str(sample_rate), "-f", "f32le", "-c:a", "pcm_f32le", "pipe:"]
    completed = subprocess.run(command, capture_output=True, check=False)
    if completed.returncode or not completed.stdout:
        raise VideoError(f"{path}: cannot decode its audio ({_last_line(completed.stderr)})")
    audio = np.frombuffer(completed.stdout, np.float32)  # read-only, no copy: hours of audio are GBs
    offset = round((info.audio_start if info else 0.0) * sample_rate)
    if offset > 0:  # sound starts after the picture: silence before it
        audio = np.concatenate([np.zeros(offset, np.float32), audio])
    elif offset < 0:
        audio = audio[-offset:]
    return audio
