"""Many videos → one output folder: per-video folders, `pairs.jsonl` and `summary.json` over all of them.

Videos are the files `<YT Id>.<ext>` of a folder (ext: any container ffmpeg reads). A video whose id is
not in the CSV is skipped, a damaged one counted as failed with its reason; neither stops the others.
A video whose folder is complete (its marker written last) is not redone, so an interrupted run goes
on where it stopped, and runs over different `--ids` add up: the top-level files are rebuilt from every
complete folder at the end of each run (written to a temporary name, then renamed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile

from mt_music.data import distributed
from mt_music.data.directions import LengthLimits
from mt_music.errors import UserError, check_output_dir, is_user_error, one_line
from mt_music.ytsv import pairs as pair_cutting
from mt_music.ytsv.metadata import Row, read_metadata
from mt_music.ytsv.splits import assign_splits

# yt-dlp's side files and unfinished downloads, never videos
SIDE_FILE_SUFFIXES = (".part", ".ytdl", ".json", ".txt", ".jpg", ".jpeg", ".png", ".webp", ".vtt", ".srt", ".md",
                      ".csv", ".log", ".temp", ".tmp")


@dataclasses.dataclass(frozen=True)
class Job:
    video_id: str
    path: pathlib.Path
    row: Row
    split: str
    out: pathlib.Path
    limits: LengthLimits


def find_videos(folder: pathlib.Path, ids: list[str] | None = None) -> tuple[dict[str, pathlib.Path], dict[str, str]]:
    """(YT Id → its file, YT Id → why skipped) for the folder's `<YT Id>.<ext>` files (only `ids` if given)."""
    found: dict[str, pathlib.Path] = {}
    skipped: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.name.lower().endswith(SIDE_FILE_SUFFIXES):
            continue
        video_id = path.name.split(".", 1)[0]
        if ids is not None and video_id not in ids:
            continue
        if video_id in found:
            skipped.setdefault(f"{video_id} ({path.name})", f"a second file of {video_id}; {found[video_id].name} "
                                                          "is used")
            continue
        found[video_id] = path
    for video_id in ids or ():
        if video_id not in found:
            skipped[video_id] = f"no file {video_id}.<ext> in {folder}"
    return found, skipped


def is_complete(out: pathlib.Path, video_id: str) -> bool:
    return (out / video_id / pair_cutting.COMPLETE_MARKER).is_file()


def process_job(job: Job) -> dict:
    """One video (in a worker); a failure becomes a `failed` entry with its reason, never an exception."""
    try:
        return pair_cutting.process_video(job.path, job.video_id, job.row, job.split, job.out, job.limits)
    except Exception as error:  # noqa: BLE001 - one bad video must not stop the others
        reason = one_line(error) if is_user_error(error) else f"internal error: {type(error).__name__}: {one_line(error)}"
        return {"video_id": job.video_id, "status": "failed", "file": job.path.name, "reason": reason}


def _atomic_write(path: pathlib.Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def run(videos: str | pathlib.Path, metadata: str | pathlib.Path, out: str | pathlib.Path,
        ids: list[str] | None = None, workers: int = 1, progress: bool = True,
        limits: LengthLimits | None = None, runner: str = distributed.LOCAL, beam_args: tuple[str, ...] = ()) -> dict:
    """Cuts every usable video of `videos` into `out`; returns the summary (also in `out`/summary.json)."""
    videos = pathlib.Path(videos).expanduser()
    if not videos.is_dir():
        raise UserError(f"--videos: {videos} is not a folder; give the folder that holds your <YT Id>.<ext> videos")
    if workers < 1:
        raise UserError(f"--workers must be ≥ 1, got {workers}")
    rows = read_metadata(metadata)
    out = check_output_dir(pathlib.Path(out).expanduser(), "--out")
    splits = assign_splits(rows.values())
    files, skipped = find_videos(videos, ids)
    if not files and not skipped:
        raise UserError(f"--videos: {videos} holds no video files (expected <YT Id>.<ext>, e.g. UeVecTH-lBU.mp4)")
    jobs, resumed, failed = [], [], {}
    for video_id, path in files.items():
        if video_id not in rows:
            skipped[video_id] = f"{path.name}: not in the metadata CSV"
        elif is_complete(out, video_id):
            resumed.append(video_id)
        else:
            jobs.append(Job(video_id, path, rows[video_id], splits[video_id], out, limits or LengthLimits()))
    results = _run_jobs(jobs, workers, progress, runner, tuple(beam_args))
    for result in results:
        if result["status"] == "failed":
            failed[result["video_id"]] = result["reason"]
    summary = assemble(out, splits, skipped, failed)
    summary["run"] = {"processed": len(results) - len(failed), "resumed": len(resumed), "failed": len(failed),
                      "skipped": len(skipped)}
    _atomic_write(out / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return summary


def _run_jobs(jobs: list[Job], workers: int, progress: bool, runner: str, beam_args: tuple[str, ...]) -> list[dict]:
    return [result for _, result in distributed.map_units(process_job, jobs, runner=runner, workers=workers,
                                                          beam_args=beam_args, progress=progress and bool(jobs),
                                                          description="ytsv pairs", unit="video")]


def assemble(out: pathlib.Path, splits: dict[str, str], skipped: dict[str, str], failed: dict[str, str]) -> dict:
    """Rebuilds `out`/pairs.jsonl from every complete video folder; the summary over them (not yet written)."""
    previous = _read_json(out / "summary.json")
    videos, lines = {}, []
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / pair_cutting.COMPLETE_MARKER).is_file():
            continue
        video = _read_json(folder / "summary.json")
        if video is None:
            continue
        split = splits.get(folder.name, video.get("split"))
        video = {key: value for key, value in video.items() if key != "slides"} | {"split": split}
        videos[folder.name] = video
        for line in (folder / "pairs.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                lines.append(pair_cutting.dumps(json.loads(line) | {"split": split}))
    _atomic_write(out / "pairs.jsonl", "".join(line + "\n" for line in lines))
    if previous:  # failures and skips of earlier runs stay listed until the video is done
        for key, mine in (("failed", failed), ("skipped", skipped)):
            for video_id, reason in (previous.get(key) or {}).items():
                if video_id not in videos and video_id not in failed and video_id not in skipped:
                    mine[video_id] = reason
    dropped = {reason: sum(v["dropped"].get(reason, 0) for v in videos.values()) for reason in pair_cutting.REASONS}
    totals = {"videos_done": len(videos), "videos_failed": len(failed), "videos_skipped": len(skipped),
              "slides_found": sum(v["slides_found"] for v in videos.values()),
              "slides_kept": sum(v["slides_kept"] for v in videos.values()), "dropped": dropped,
              "systems": sum(v["systems"] for v in videos.values()), "pairs": len(lines),
              "pairs_by_split": {s: sum(v["slides_kept"] for v in videos.values() if v["split"] == s)
                                 for s in ("train", "validation", "test")},
              "pair_hours": round(sum(v["pair_hours"] for v in videos.values()), 4),
              "video_hours": round(sum(v["video_hours"] for v in videos.values()), 4)}
    return {"totals": totals, "videos": videos, "failed": failed, "skipped": skipped}


def _read_json(path: pathlib.Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
