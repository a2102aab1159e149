#!/usr/bin/env python
"""Corpus throughput: systems per second for engraving, rasterizing and synthesis, and end to end.

    python tools/corpus_throughput.py                      # 16 pieces of the small build, all cores
    python tools/corpus_throughput.py --pieces 30 --workers 2

Stages are timed on ONE core over the same pieces, each stage on its own:
    prepare     music21 parse, pianoform reduction, MusicXML export, measure times, layout
                (the work before any system exists; per system for comparison)
    render      verovio: the MusicXML with system breaks → one SVG per system
    rasterize   rsvg-convert (with the font fix) → grayscale PNG, plus the staff check
    synthesis   FluidSynth: each system's notes → audio (span + release tail)
Then END TO END: a fresh build of the same pieces with the worker pool (everything: parse ...
FLAC encoding, shard writing), systems per wall-clock second with --workers processes.
"""

from __future__ import annotations

import os
import tempfile
import time

from mt_music.audio.synthesis import (
    available_soundfonts,
    process_renderer,
)
from mt_music.corpus import build, examples, layout, musicxml, performance, pieces
from mt_music.corpus.augmentation import sample_augmentation
from mt_music.errors import ArgumentParser, UserError, check_positive, main_with_errors


def prepared_pieces(selected, seed: int):
    """(piece, augmentation, MusicXML with breaks, plans, performance) for each usable piece."""
    soundfonts = tuple(available_soundfonts())
    prepared, seconds = [], 0.0
    for piece in selected:
        augmentation = sample_augmentation(seed, piece.piece_id, 0, soundfonts)
        try:
            result = examples.render_piece(piece, augmentation, examples.RenderSettings(verify_images=False),
                                           max_seconds=240.0)
        except pieces.PieceError:
            continue
        record = result.record
        root = musicxml.parse(record["_musicxml"])
        played = performance.perform(performance.read_score(root), tempo_factor=augmentation.tempo_factor,
                                     velocity_sigma=augmentation.velocity_sigma, rng=augmentation.rng("velocity"))
        plans = [layout.SystemPlan(a, b, 0.0, 0.0, 0) for a, b in record["system_measures"]]
        timer = result.timer.seconds
        seconds += sum(timer.get(k, 0.0) for k in ("parse", "reduce", "timing"))
        seconds += timer.get("engrave", 0.0) / 2  # the natural-width pass; the other half is "render"
        prepared.append((piece, augmentation, record["_musicxml"], plans, played))
    return prepared, seconds


def main(argv: list[str] | None = None) -> int:
    return main_with_errors(_main, argv)


def _main(argv: list[str] | None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--composers", nargs="+", default=list(build.SMALL_COLLECTIONS))
    args = parser.parse_args(argv)
    check_positive(args.pieces, "--pieces")
    check_positive(args.workers, "--workers")
    spec = build.CorpusSpec(name="throughput", count=args.pieces, composers=tuple(args.composers), seed=args.seed)
    selected = spec.select()
    if not selected:
        raise UserError(f"--composers {' '.join(args.composers)} selects no piece of music21's corpus; "
                        "give a collection folder (bach, palestrina, ...) or a composer name")
    print(f"{len(selected)} pieces: {', '.join(p.piece_id for p in selected)}")

    prepared, prepare_seconds = prepared_pieces(selected, args.seed)
    systems = sum(len(plans) for _, _, _, plans, _ in prepared)
    if not systems:
        raise UserError(f"none of the {len(selected)} pieces could be rendered; nothing to time")
    svgs = []
    started = time.perf_counter()
    for _, augmentation, document, _, _ in prepared:
        svgs.append(layout.render_system_svgs(document, augmentation.font, 2300.0))
    render_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for page_svgs in svgs:
        for engraved in layout.rasterize_all(page_svgs):  # one rsvg-convert run per piece
            examples._measure_staves(engraved.png)
    raster_seconds = time.perf_counter() - started
    renderer = process_renderer()
    for _, augmentation, _, _, _ in prepared:  # load each soundfont once, outside the timing
        renderer.render([], 0.1, augmentation.soundfont)
    started = time.perf_counter()
    audio_seconds = 0.0
    for _, augmentation, _, plans, played in prepared:
        for plan in plans:
            start, end = played.measure_seconds[plan.start], played.measure_seconds[plan.stop]
            notes = performance.clip_notes(played.notes, start, end)
            renderer.render(notes, end - start + 1.0, augmentation.soundfont, normalize=False)
            audio_seconds += end - start + 1.0
    synthesis_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        result = build.build(spec, data_dir, workers=args.workers, progress=False)
        wall = time.perf_counter() - started
    built = result.summary["systems"]

    print(f"\n{systems} systems ({audio_seconds / 60:.1f} min of audio) from {len(prepared)} pieces; one core per stage:")
    rows = [("prepare (parse, reduce, export, layout)", prepare_seconds), ("render (verovio SVG)", render_seconds),
            ("rasterize (rsvg-convert + staff check)", raster_seconds), ("synthesis (FluidSynth)", synthesis_seconds)]
    for name, seconds in rows:
        print(f"  {name:<42}{systems / seconds:8.1f} systems/s  ({seconds:6.2f} s)")
    stages = prepare_seconds + render_seconds + raster_seconds + synthesis_seconds
    print(f"  {'all four stages, one core':<42}{systems / stages:8.1f} systems/s  ({stages:6.2f} s)")
    print(f"END TO END with {args.workers} workers: {built} systems in {wall:.1f} s wall = "
          f"{built / wall:.2f} systems/s (includes start-up, FLAC, shards, summary)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
