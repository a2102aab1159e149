"""YTSV pairs on a real score-following video (tests/ytsv_fixture.py): slides, systems and audio spans against
the video's known truth, the filters, the splits on the real CSV, the Layout over the output, the CLI's
errors and resuming. `pytest -s` prints the figures."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil

import numpy as np
import pytest
import soundfile
import ytsv_fixture
from PIL import Image

from mt_music.audio.io import SAMPLE_RATE
from mt_music.data.directions import LengthLimits
from mt_music.datasets.layouts import ytsv as ytsv_layout
from mt_music.ytsv import metadata, pairs, pipeline, slides, splits
from mt_music.ytsv.video import VideoError, probe

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECK = 1.0 / slides.CHECKS_PER_SECOND


def _tool():
    spec = importlib.util.spec_from_file_location("tool_ytsv_pairs", ROOT / "tools" / "ytsv_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    truth = ytsv_fixture.make_video(folder)
    ytsv_fixture.write_csv(folder.parent / "fixture.csv", [truth.csv_row])
    return truth


@pytest.fixture(scope="module")
def cut(video, tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    summary = pipeline.run(video.video.parent, video.video.parent.parent / "fixture.csv", out, progress=False)
    rows = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    return out, summary, rows


def test_every_slide_system_and_span_is_found(video, cut):
    out, summary, rows = cut
    info = summary["videos"][video.video_id]
    per_slide = json.loads((out / video.video_id / "summary.json").read_text())["slides"]
    assert info["slides_found"] == len(video.slides) + 2  # + title card + outro card
    assert [s["reason"] for s in (per_slide[0], per_slide[-1])] == ["silent", "silent"]
    assert len(rows) == len(video.slides)
    errors, span_errors = [], []
    for row, (start, end), systems in zip(rows, video.slides, video.systems):
        errors += [abs(row["section_start"] - start), abs(row["section_end"] - end)]
        padded = (max(0.0, start - pairs.PAD_SECONDS), min(video.duration, end + pairs.PAD_SECONDS))
        span_errors += [abs(row["start"] - padded[0]), abs(row["end"] - padded[1])]
        assert len(row["systems"]) == systems
    found_systems = sum(len(row["systems"]) for row in rows)
    print(f"\nYTSV fixture: slides kept {len(rows)}/{len(video.slides)} (found {info['slides_found']} incl. 2 "
          f"silent cards), systems {found_systems}/{sum(video.systems)}, max boundary error {max(errors):.3f} s, "
          f"max padded-span error {max(span_errors):.3f} s; {info['processing_s']:.1f} s for "
          f"{video.duration:.1f} s of video ({info['processing_s'] / video.duration * 60:.1f} s per minute)")
    assert max(errors) <= CHECK + 1e-6
    assert max(span_errors) <= CHECK + 1e-6
    assert found_systems == sum(video.systems)
    assert info["dropped"]["silent"] == 2 and info["slides_kept"] == 3
    assert summary["totals"]["pairs"] == 3 and summary["totals"]["systems"] == sum(video.systems)


def test_crops_and_audio_files(video, cut):
    out, _, rows = cut
    folder = out / video.video_id
    for row in rows:
        page = np.asarray(Image.open(folder / row["slide_image"]))
        assert page.shape == (ytsv_fixture.HEIGHT, ytsv_fixture.WIDTH)
        for system in row["systems"]:
            top, bottom, left, right = system["box"]
            assert Image.open(folder / system["file"]).size == (right - left, bottom - top)
        top, bottom, left, right = row["image_box"]
        assert (top, bottom) == (row["systems"][0]["box"][0], row["systems"][-1]["box"][1])
        assert Image.open(folder / row["image"]).size == (right - left, bottom - top)
        assert row["composer"] == "Fixture Composer" and row["instrumentation"] == "solo"
        assert row["audio_frames"] <= LengthLimits().audio
    audio, rate = soundfile.read(folder / "audio.flac")
    assert rate == SAMPLE_RATE and audio.ndim == 1
    assert abs(len(audio) / rate - video.duration) < 0.1
    intro = audio[: int(2.5 * rate)]
    assert np.abs(intro).max() < 1e-3 and np.abs(audio[int(video.slides[0][0] * rate):]).max() > 0.1


def _frames(*sections: tuple[int, int]) -> list[np.ndarray]:
    """(checks, gray level of a block) per section, with compression-like noise on every frame."""
    rng = np.random.default_rng(0)
    frames = []
    for checks, level in sections:
        for _ in range(checks):
            frame = np.full((120, 160), 255, np.uint8)
            frame[30:90, 40:120] = level
            frames.append(np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8))
    return frames


def test_segmentation_and_filters_on_synthetic_frames():
    frames = _frames((6, 0), (24, 120), (75, 60))  # 2 s, 8 s, 25 s
    frames[10] = frames[10].copy()
    frames[10][15, 20] = 0  # one pixel (< 1e-4 of 19,200 after the blur: no change)
    sections = slides.segment(frames, duration=105 / 3)
    assert [(s.first, s.last) for s in sections] == [(0, 5), (6, 29), (30, 104)]
    assert [round(s.start, 3) for s in sections] == [0.0, round(5.5 / 3, 3), round(29.5 / 3, 3)]
    assert sections[2].frame is None and sections[1].frame is not None  # too long: no frame held
    audio = np.full(int(36 * SAMPLE_RATE), 0.5, np.float32)
    reasons = [pairs.judge(s, audio, 35.0, LengthLimits()).reason for s in sections]
    assert reasons == ["too_short", "no_systems", "too_long"]  # the 8 s slide shows no staff
    assert pairs.judge(sections[1], np.zeros_like(audio), 35.0, LengthLimits()).reason == "silent"
    assert pairs.audio_frames(20.0) == 1724 and pairs.audio_frames(20.4) > LengthLimits().audio


def test_metadata_durations_and_splits_on_the_real_csv():
    assert [metadata.duration_seconds(t) for t in ("6:19", "1:02:03", "49", "x", "")] == [379, 3723, 49, None, None]
    rows = metadata.read_metadata(metadata.DEFAULT_METADATA)
    assert len(rows) == 12317
    assert metadata.duration_mismatch(380.5, rows["UeVecTH-lBU"]) is None
    assert "CSV says 6:19" in metadata.duration_mismatch(300.0, rows["UeVecTH-lBU"])
    first = splits.assign_splits(rows.values())
    assert first == splits.assign_splits(rows.values()) and set(first) == set(rows)
    of_piece: dict = {}
    for video_id, row in rows.items():
        key = splits.piece_key(row)
        assert of_piece.setdefault(key or video_id, first[video_id]) == first[video_id]
    shares = {name: sum(s == name for s in first.values()) / len(first) for name, _ in splits.SHARES}
    print(f"\nYTSV splits on the CSV: {', '.join(f'{k} {v:.3f}' for k, v in shares.items())}")
    for name, share in splits.SHARES:
        assert abs(shares[name] - share) < 0.015


def test_layout_lists_the_kept_pairs_and_missing_files(video, cut, tmp_path):
    out, _, rows = cut
    found = ytsv_layout.LAYOUT.items(out, "pairs")
    assert [item.id for item in found] == sorted(row["id"] for row in rows)
    assert ytsv_layout.LAYOUT.level == "system" and ytsv_layout.LAYOUT.modalities == ("image", "audio")
    for item in found:
        assert item.image.is_file() and item.image.name.endswith("-systems.png") and item.audio.name == "audio.flac"
        assert item.span[1] - item.span[0] > 3 and item.fields["title"] == "Fixture Piece"
    assert ytsv_layout.LAYOUT.missing(out, "pairs") == []
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / video.video_id / rows[0]["image"]).unlink()
    assert [item_id for item_id, _ in ytsv_layout.LAYOUT.missing(copy, "pairs")] == [rows[0]["id"]]
    assert len(ytsv_layout.LAYOUT.items(copy, "pairs")) == len(rows) - 1


def test_resume_skips_a_complete_video(video, cut):
    out, _, rows = cut
    stamp = (out / video.video_id / "audio.flac").stat().st_mtime_ns
    again = pipeline.run(video.video.parent, video.video.parent.parent / "fixture.csv", out, progress=False)
    assert again["run"] == {"processed": 0, "resumed": 1, "failed": 0, "skipped": 0}
    assert (out / video.video_id / "audio.flac").stat().st_mtime_ns == stamp
    assert [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()] == rows


def test_cli_errors_damaged_videos_and_nothing_usable(video, tmp_path, capsys):
    tool = _tool()
    assert tool.main(["--videos", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --videos") and not (tmp_path / "o").exists()

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(video.video, videos)
    data = video.video.read_bytes()
    (videos / "damagedVid1.mp4").write_bytes(data[: len(data) // 3])  # cut short: no index at its end
    shutil.copy(video.video, videos / "wrongLength.mkv")  # a file saved under another video's id
    (videos / "notInCsv01.mp4").write_bytes(b"")
    csv = ytsv_fixture.write_csv(tmp_path / "meta.csv", [video.csv_row, ytsv_fixture.csv_row("damagedVid1", 23),
                                                         ytsv_fixture.csv_row("wrongLength", 300)])
    out = tmp_path / "out"
    code = tool.main(["--videos", str(videos), "--metadata", str(csv), "--out", str(out), "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"] == {"processed": 1, "resumed": 0, "failed": 2, "skipped": 1}
    assert "damagedVid1.mp4" in summary["failed"]["damagedVid1"]
    assert "CSV says 5:00" in summary["failed"]["wrongLength"]
    assert "not in the metadata CSV" in summary["skipped"]["notInCsv01"]
    assert summary["totals"]["pairs"] == 3 and not list(out.glob(".*.partial"))

    for name in ("fixtureVid01.mp4", "wrongLength.mkv", "notInCsv01.mp4"):
        (videos / name).unlink()
    code = tool.main(["--videos", str(videos), "--metadata", str(csv), "--out", str(tmp_path / "out2"),
                      "--no-progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: no video could be cut: damagedVid1")
    with pytest.raises(VideoError, match="not a readable video"):
        probe(videos / "damagedVid1.mp4")
