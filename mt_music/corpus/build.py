"""Building the corpus: a worker pool renders piece variants into shard files; a summary.

Work unit = one variant of one piece. Its result is ONE shard file, an uncompressed tar written
atomically (temporary name, then rename), so an interrupted build leaves only whole shards and a
re-run skips them (resumable). A piece that cannot be rendered leaves a `.failed.json` with the
reason instead; failures are listed in the summary, never dropped silently (`retry_failed`
re-attempts them). Each worker holds one piece at a time and workers are recycled every
`MAX_TASKS_PER_CHILD` pieces, so memory stays bounded whatever the corpus size; the parent only
keeps a small per-shard summary.

Shard layout (`tar tf` to look inside):
    piece.json               piece record metadata + every kept system's metadata (+ notes)
    piece.musicxml           the pianoform MusicXML with the system breaks (source of everything)
    piece.flac               whole-piece audio (if rendered)
    system_NNN.png / .flac   image and audio of system NNN

No TensorFlow here: `tfds_builder` reads the shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import pathlib
import re
import sys
import tarfile
import time
import traceback
from collections.abc import Iterator, Sequence

import numpy as np

from mt_music.corpus import pieces
from mt_music.corpus.augmentation import sample_augmentation
from mt_music.corpus.examples import RenderSettings, render_piece

SHARD_FORMAT_VERSION = 3  # bump whenever rendering changes what a shard holds
MAX_TASKS_PER_CHILD = 40
DATA_DIR_ENV = "MT_MUSIC_DATA_DIR"
# The quickstart build: a seeded round-robin sample over these collections (chorales, madrigals,
# Renaissance polyphony, trecento, folk tunes), which renders in about two minutes on two cores.
SMALL_PIECES = 40
SMALL_COLLECTIONS = ("bach", "monteverdi", "palestrina", "trecento", "essenFolksong", "oneills1850",
                     "ryansMammoth", "airdsAirs")


def default_data_dir() -> pathlib.Path:
    """$MT_MUSIC_DATA_DIR, else $XDG_CACHE_HOME/mt_music/datasets (~/.cache/mt_music/datasets)."""
    if os.environ.get(DATA_DIR_ENV):
        return pathlib.Path(os.environ[DATA_DIR_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(cache) / "mt_music" / "datasets"


@dataclasses.dataclass(frozen=True)
class CorpusSpec:
    """What to build: the selection, the variants, the rendering settings."""

    name: str = "small"
    count: int | None = SMALL_PIECES  # None = every selected piece
    composers: tuple[str, ...] = SMALL_COLLECTIONS
    piece_ids: tuple[str, ...] = ()
    seed: int = 0
    variants: int = 1
    max_seconds_per_piece: float | None = 240.0  # skip (and list) longer pieces; None = no limit
    settings: RenderSettings = RenderSettings()

    def fingerprint(self) -> str:
        """Hash of everything that changes the CONTENT of a shard (not the selection)."""
        payload = json.dumps({
            "version": SHARD_FORMAT_VERSION, "seed": self.seed, "settings": dataclasses.asdict(self.settings),
            "max_seconds_per_piece": self.max_seconds_per_piece,
        }, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:10]

    def select(self) -> list[pieces.CorpusPiece]:
        return pieces.select_pieces(pieces.catalog(), count=self.count, composers=self.composers or None,
                                    piece_ids=self.piece_ids or None, seed=self.seed)


TINY_PIECES = ("bach/bwv66.6", "essenFolksong/altdeu10#10", "essenFolksong/altdeu10#112",
               "oneills1850/0001-0050#7")  # train, validation, test, train
NAMED_SPECS = {
    # the quickstart build: 40 pieces, one rendering each, pieces up to 4 minutes
    "small": CorpusSpec(name="small"),
    # four short pieces, one in each held-out split: tests and smoke runs
    "tiny": CorpusSpec(name="tiny", count=None, composers=(), piece_ids=TINY_PIECES),
    # every piece of the corpus, two renderings (canonical + augmented), no length limit
    "full": CorpusSpec(name="full", count=None, composers=(), variants=2, max_seconds_per_piece=None),
}


def shard_dir(data_dir: pathlib.Path, spec: CorpusSpec) -> pathlib.Path:
    """Shards of all builds with the same rendering settings live together (and are shared)."""
    return pathlib.Path(data_dir) / "mt_music_corpus_shards" / f"render-{spec.fingerprint()}"


def shard_stem(piece_id: str, variant: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", piece_id)[:80]
    digest = hashlib.sha1(piece_id.encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}-v{variant}"


# ---------------------------------------------------------------------------------------------------
# Shard files
# ---------------------------------------------------------------------------------------------------


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def write_shard(path: pathlib.Path, record: dict, systems: list[dict], dropped: list[dict], stats: dict) -> None:
    """Atomically writes one piece variant's shard (see module docstring)."""
    meta = {k: v for k, v in record.items() if not k.startswith("_")}
    meta["systems"] = [{k: v for k, v in s.items() if not k.startswith("_")} for s in systems]
    meta["dropped"] = dropped
    meta["stats"] = stats
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tarfile.open(temporary, "w") as archive:
        _add(archive, "piece.json", json.dumps(meta, sort_keys=True).encode("utf-8"))
        _add(archive, "piece.musicxml", record["_musicxml"])
        if record.get("_flac"):
            _add(archive, "piece.flac", record["_flac"])
        for system in systems:
            stem = f"system_{system['system_index']:03d}"
            _add(archive, f"{stem}.png", system["_png"])
            _add(archive, f"{stem}.flac", system["_flac"])
    os.replace(temporary, path)


def read_shard(path: pathlib.Path, payloads: bool = True) -> tuple[dict, list[dict]]:
    """(piece record, system examples) of a shard; binaries under `_musicxml`, `_flac`, `_png`."""
    with tarfile.open(path, "r") as archive:
        meta = json.loads(archive.extractfile("piece.json").read())
        record = {k: v for k, v in meta.items() if k not in ("systems",)}
        systems = meta["systems"]
        if payloads:
            names = set(archive.getnames())
            record["_musicxml"] = archive.extractfile("piece.musicxml").read()
            record["_flac"] = archive.extractfile("piece.flac").read() if "piece.flac" in names else b""
            for system in systems:
                stem = f"system_{system['system_index']:03d}"
                system["_png"] = archive.extractfile(f"{stem}.png").read()
                system["_flac"] = archive.extractfile(f"{stem}.flac").read()
    return record, systems


def read_shard_meta(path: pathlib.Path) -> dict:
    with tarfile.open(path, "r") as archive:
        return json.loads(archive.extractfile("piece.json").read())


# ---------------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WorkItem:
    piece: pieces.CorpusPiece
    variant: int
    seed: int
    soundfonts: tuple[str, ...]
    settings: RenderSettings
    max_seconds_per_piece: float | None
    out_dir: str

    @property
    def stem(self) -> str:
        return shard_stem(self.piece.piece_id, self.variant)


def _shard_summary(meta: dict) -> dict:
    """The small per-shard numbers the parent keeps."""
    systems = meta.get("systems", [])
    return {
        "piece_id": meta["piece_id"], "variant": meta["variant"], "split": meta["split"],
        "collection": meta["collection"], "composer": meta["composer"], "ok": True,
        "systems": len(systems), "dropped": meta.get("dropped", []),
        "system_audio_seconds": sum(s["audio_samples"] for s in systems) / 44100.0,
        "span_seconds": sum(s["span_end"] - s["span_start"] for s in systems),
        "piece_audio_seconds": meta.get("audio_samples", 0) / 44100.0,
        "lengths": {key: [s["lengths"][key] for s in systems] for key in ("lmx", "midi", "image", "audio")},
        "stats": meta.get("stats", {}),
    }


def run_item(item: WorkItem) -> dict:
    """Renders one piece variant into its shard (or its failure record). Never raises."""
    out = pathlib.Path(item.out_dir)
    shard, failed = out / f"{item.stem}.tar", out / f"{item.stem}.failed.json"
    started = time.perf_counter()
    try:
        augmentation = sample_augmentation(item.seed, item.piece.piece_id, item.variant, item.soundfonts)
        result = render_piece(item.piece, augmentation, item.settings,
                              max_seconds=item.max_seconds_per_piece)
        if not result.systems:
            reasons = sorted({d["reason"] for d in result.dropped})
            raise pieces.PieceError("every system dropped: " + "; ".join(reasons)[:300])
        stats = {"seconds": round(time.perf_counter() - started, 3),
                 "stages": {k: round(v, 4) for k, v in result.timer.seconds.items()},
                 "bytes": {"png": sum(len(s["_png"]) for s in result.systems),
                           "system_flac": sum(len(s["_flac"]) for s in result.systems),
                           "piece_flac": len(result.record.get("_flac") or b""),
                           "musicxml": len(result.record["_musicxml"])}}
        write_shard(shard, result.record, result.systems, result.dropped, stats)
        summary = _shard_summary(read_shard_meta(shard))
        return summary
    except Exception as error:  # noqa: BLE001 - every failure is recorded with its reason
        if isinstance(error, pieces.PieceError):
            reason = str(error)
        else:
            last = traceback.extract_tb(error.__traceback__)[-1]
            reason = f"internal error {type(error).__name__}: {pieces._one_line(error)} " \
                     f"({pathlib.Path(last.filename).name}:{last.lineno})"
        record = {"piece_id": item.piece.piece_id, "variant": item.variant, "split": item.piece.split,
                  "collection": item.piece.collection, "composer": item.piece.composer, "ok": False,
                  "reason": reason, "seconds": round(time.perf_counter() - started, 3)}
        temporary = failed.with_name(f".{failed.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record, sort_keys=True))
        os.replace(temporary, failed)
        return record


def _existing(item: WorkItem, retry_failed: bool) -> dict | None:
    out = pathlib.Path(item.out_dir)
    shard, failed = out / f"{item.stem}.tar", out / f"{item.stem}.failed.json"
    if shard.exists():
        try:
            return _shard_summary(read_shard_meta(shard))
        except (tarfile.TarError, KeyError, json.JSONDecodeError, OSError):
            shard.unlink()  # damaged: render again
    if failed.exists() and not retry_failed:
        return json.loads(failed.read_text())
    return None


def _expected_cost(item: WorkItem) -> int:
    """Source file size as a proxy for rendering time (a tune of a multi-tune file is short)."""
    if item.piece.number is not None:
        return 2000
    try:
        size = (pieces.corpus_root() / item.piece.source_path).stat().st_size
    except OSError:
        return 0
    return size * 8 if item.piece.source_path.endswith(".mxl") else size  # .mxl is zip-compressed


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import verovio

        verovio.enableLog(verovio.LOG_ERROR)
    except Exception:  # noqa: BLE001
        pass


# ---------------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class BuildResult:
    spec: CorpusSpec
    shard_dir: pathlib.Path
    shards: list[pathlib.Path]  # shards of this build, in piece order
    summary: dict


def work_items(spec: CorpusSpec, out_dir: pathlib.Path) -> list[WorkItem]:
    from mt_music.audio.synthesis import available_soundfonts

    soundfonts = tuple(available_soundfonts())
    return [WorkItem(piece, variant, spec.seed, soundfonts, spec.settings, spec.max_seconds_per_piece, str(out_dir))
            for piece in spec.select() for variant in range(spec.variants)]


def build(
    spec: CorpusSpec,
    data_dir: pathlib.Path | str | None = None,
    *,
    workers: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    summary_name: str | None = None,
    runner: str = "local",
    beam_args: Sequence[str] = (),
) -> BuildResult:
    """Renders every missing shard of `spec` (resumable) and writes/prints the summary; `runner`: the local
    process pool, or an Apache Beam runner (`mt_music.data.distributed`) running the same `run_item`."""
    started = time.time()
    data_dir = pathlib.Path(data_dir) if data_dir else default_data_dir()
    out_dir = shard_dir(data_dir, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = work_items(spec, out_dir)
    results: dict[str, dict] = {}
    todo = []
    for item in items:
        existing = _existing(item, retry_failed)
        if existing is None:
            todo.append(item)
        else:
            results[item.stem] = existing
    workers = max(1, workers or os.cpu_count() or 1)
    todo.sort(key=_expected_cost, reverse=True)  # long pieces first: no long tail at the end
    bar = _progress_bar(len(items), len(items) - len(todo), progress, spec.name)
    systems_done = sum(r.get("systems", 0) for r in results.values())
    for result, item in _run(todo, workers, runner, beam_args):
        results[item.stem] = result
        systems_done += result.get("systems", 0)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(systems=systems_done, failed=sum(not r["ok"] for r in results.values()), refresh=False)
    if bar is not None:
        bar.close()
    ordered = [results[item.stem] for item in items]
    summary = summarize(spec, ordered, wall_seconds=time.time() - started, rendered=len(todo), workers=workers)
    name = summary_name or f"summary-{spec.name}.json"
    previous = out_dir / name
    if not todo and previous.exists():  # nothing rendered now: keep the timing of the run that did
        try:
            summary["render_run"] = json.loads(previous.read_text()).get("render_run", summary["render_run"])
        except (json.JSONDecodeError, OSError):
            pass
    previous.write_text(json.dumps(summary, indent=2, sort_keys=True))
    if progress:
        print(format_summary(summary), file=sys.stderr)
        print(f"summary written to {out_dir / name}", file=sys.stderr)
    shards = [out_dir / f"{item.stem}.tar" for item in items if results[item.stem]["ok"]]
    return BuildResult(spec, out_dir, shards, summary)


def _progress_bar(total: int, done: int, enabled: bool, name: str):
    if not enabled:
        return None
    import tqdm

    return tqdm.tqdm(total=total, initial=done, desc=f"corpus {name}", unit="piece", dynamic_ncols=True)


_worker_ready = False


def run_item_in_worker(item: WorkItem) -> dict:
    """`run_item` in a Beam worker: the worker set-up once per process, as the local pool's initializer does."""
    global _worker_ready
    if not _worker_ready:
        _init_worker()
        _worker_ready = True
    return run_item(item)


def _run(items: Sequence[WorkItem], workers: int, runner: str = "local",
         beam_args: Sequence[str] = ()) -> Iterator[tuple[dict, WorkItem]]:
    if not items:
        return
    if runner != "local":  # Apache Beam: the same unit function, so the same shards
        from mt_music.data import distributed

        for index, result in distributed.map_units(run_item_in_worker, list(items), runner=runner, workers=workers,
                                                   beam_args=beam_args, progress=False):
            yield result, items[index]
        return
    if workers == 1 or len(items) == 1:
        _init_worker()
        for item in items:
            yield run_item(item), item
        return
    # fork is cheapest (workers inherit the loaded catalogue and modules), but a parent that has
    # TensorFlow loaded (the TFDS builder) must not be forked: its threads do not survive it
    method = "spawn" if "tensorflow" in sys.modules or sys.platform != "linux" else "fork"
    context = multiprocessing.get_context(method)
    by_stem = {item.stem: item for item in items}
    with context.Pool(min(workers, len(items)), initializer=_init_worker, maxtasksperchild=MAX_TASKS_PER_CHILD) as pool:
        for result in pool.imap_unordered(_run_tagged, items, chunksize=1):
            yield result[1], by_stem[result[0]]


def _run_tagged(item: WorkItem) -> tuple[str, dict]:
    return item.stem, run_item(item)


# ---------------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {f"p{q}": float(np.percentile(array, q)) for q in (5, 50, 95, 99)} | {"max": float(array.max()),
                                                                                   "mean": float(array.mean())}


def summarize(spec: CorpusSpec, results: list[dict], wall_seconds: float, rendered: int, workers: int) -> dict:
    ok = [r for r in results if r["ok"]]
    failed = [r for r in results if not r["ok"]]
    dropped = [{"piece_id": r["piece_id"], "variant": r["variant"], **d} for r in ok for d in r["dropped"]]
    system_hours = sum(r["system_audio_seconds"] for r in ok) / 3600
    span_hours = sum(r["span_seconds"] for r in ok) / 3600
    piece_hours = sum(r["piece_audio_seconds"] for r in ok) / 3600
    bytes_total: dict[str, int] = {}
    stages: dict[str, float] = {}
    for r in ok:
        for key, value in r["stats"].get("bytes", {}).items():
            bytes_total[key] = bytes_total.get(key, 0) + value
        for key, value in r["stats"].get("stages", {}).items():
            stages[key] = stages.get(key, 0.0) + value
    systems = sum(r["systems"] for r in ok)
    audio_bytes = bytes_total.get("system_flac", 0) + bytes_total.get("piece_flac", 0)
    audio_hours = system_hours + piece_hours
    splits: dict[str, dict] = {}
    for r in ok:
        entry = splits.setdefault(r["split"], {"pieces": 0, "systems": 0})
        entry["pieces"] += 1 if r["variant"] == 0 else 0
        entry["systems"] += r["systems"]
    collections: dict[str, dict] = {}
    for r in results:
        entry = collections.setdefault(r["collection"], {"attempted": 0, "ok": 0, "systems": 0, "bytes": 0,
                                                          "system_audio_hours": 0.0, "piece_audio_hours": 0.0})
        entry["attempted"] += 1
        if r["ok"]:
            entry["ok"] += 1
            entry["systems"] += r["systems"]
            entry["bytes"] += sum(r["stats"].get("bytes", {}).values())
            entry["system_audio_hours"] += r["system_audio_seconds"] / 3600
            entry["piece_audio_hours"] += r["piece_audio_seconds"] / 3600
    reasons: dict[str, int] = {}
    for r in failed:
        key = re.sub(r"\d+(\.\d+)?", "N", r["reason"])[:80]
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "name": spec.name,
        "spec": {"count": spec.count, "composers": list(spec.composers), "piece_ids": list(spec.piece_ids),
                 "seed": spec.seed, "variants": spec.variants, "fingerprint": spec.fingerprint()},
        "pieces": {"selected": len({r["piece_id"] for r in results}), "rendered_ok": len({r["piece_id"] for r in ok}),
                   "failed": len({r["piece_id"] for r in failed})},
        "variants_ok": len(ok),
        "systems": systems,
        "systems_dropped": len(dropped),
        "splits": splits,
        "hours": {"system_audio": round(system_hours, 4), "system_spans": round(span_hours, 4),
                  "piece_audio": round(piece_hours, 4)},
        "token_lengths": {key: _percentiles([v for r in ok for v in r["lengths"][key]])
                          for key in ("lmx", "midi", "image", "audio")},
        "bytes": bytes_total | {"total": sum(bytes_total.values())},
        "bytes_per_hour_audio": round(audio_bytes / audio_hours) if audio_hours else None,
        "bytes_per_system": round(sum(bytes_total.values()) / systems) if systems else None,
        "stage_seconds": {k: round(v, 2) for k, v in sorted(stages.items())},
        "wall_seconds": round(wall_seconds, 1),
        "rendered_now": rendered,
        "workers": workers,
        # the latest call that rendered something (a call that only resumes keeps it)
        "render_run": {"wall_seconds": round(wall_seconds, 1), "rendered": rendered, "workers": workers,
                       "systems_per_second": round(sum(r["systems"] for r in ok) / wall_seconds, 3)
                       if rendered == len(results) and wall_seconds > 0 else None},
        "collections": collections,
        "failures": [{"piece_id": r["piece_id"], "variant": r["variant"], "reason": r["reason"]} for r in failed],
        "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "dropped_systems": dropped,
    }


def format_summary(summary: dict) -> str:
    lines = [
        f"corpus {summary['name']}: {summary['pieces']['rendered_ok']} pieces ok, "
        f"{summary['pieces']['failed']} failed, {summary['systems']} systems "
        f"({summary['systems_dropped']} dropped), {summary['variants_ok']} piece variants",
        "splits: " + ", ".join(f"{k} {v['pieces']} pieces / {v['systems']} systems"
                               for k, v in sorted(summary["splits"].items())),
        f"audio: {summary['hours']['system_audio']:.3f} h of system audio "
        f"({summary['hours']['system_spans']:.3f} h of spans), {summary['hours']['piece_audio']:.3f} h of piece audio",
        f"storage: {summary['bytes'].get('total', 0) / 1e6:.1f} MB "
        f"({(summary['bytes_per_hour_audio'] or 0) / 1e6:.1f} MB per hour of FLAC audio, "
        f"{(summary['bytes_per_system'] or 0) / 1e3:.1f} kB per system)",
        "token lengths (p50 / p95 / max): " + ", ".join(
            f"{k} {v.get('p50', 0):.0f}/{v.get('p95', 0):.0f}/{v.get('max', 0):.0f}"
            for k, v in summary["token_lengths"].items()),
        f"time: {summary['wall_seconds']} s wall now ({summary['rendered_now']} variants rendered); rendering run: "
        f"{summary['render_run']['wall_seconds']} s wall for {summary['render_run']['rendered']} variants with "
        f"{summary['render_run']['workers']} workers",
    ]
    if summary["failures"]:
        lines.append("failures:")
        lines += [f"  {f['piece_id']} (v{f['variant']}): {f['reason']}" for f in summary["failures"][:50]]
        if len(summary["failures"]) > 50:
            lines.append(f"  ... {len(summary['failures']) - 50} more (see the summary file)")
    if summary["dropped_systems"]:
        lines.append("dropped systems:")
        lines += [f"  {d['piece_id']} (v{d['variant']}) system {d['system']}: {d['reason']}"
                  for d in summary["dropped_systems"][:20]]
    return "\n".join(lines)
