"""One rendering of one piece → its system examples and its piece record.

    score (music21) → pianoform → transposed → MusicXML (music21 export)
      → cleaned; measure times, natural widths, LMX tokens per measure
      → system breaks written in; printed accidentals settled
      → per system i (measures [a_i, b_i)):
           image   verovio page i, rasterized (18 px staff height, verified by the estimator)
           LMX     lmx.linearize_systems(...)[i]  (core and extended flavours)
           span    [t(a_i), t(b_i)) seconds in the piece
           notes   the piece's notes clipped to the span, relative to its start, 10 ms grid
           audio   FluidSynth render of exactly those notes, span + release tail
      → piece record: the MusicXML, whole-piece notes and audio, every system's span

Audio per system is the system's OWN notes synthesised (not a slice of a piece render): the audio
contains exactly the notes the example lists and nothing from neighbouring systems; a note tied
over a system break is re-struck at the start of the next system, whose image shows the tied-to
note head. The piece audio is the overlap-add of the system renders at their span starts (each
release tail rings into the next system), so synthesis runs once, and the piece notes are the
union of the system notes: piece and system records agree exactly. One gain per piece keeps the
dynamics across systems.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from mt_music import audio, lmx
from mt_music.audio.io import encode_flac
from mt_music.audio.synthesis import RELEASE_TAIL_SECONDS, overlap_add, peak_gain, process_renderer
from mt_music.corpus import layout, musicxml, notation, performance, pieces
from mt_music.corpus.augmentation import Augmentation
from mt_music.image import grids, preprocessing, staves
from mt_music.midi import MidiEventCodec, Note, encode_window, prepare_notes

STAFF_HEIGHT_TOLERANCE = 1.0
MIDI_CODEC = MidiEventCodec(max_shift_steps=2000)  # 20 s windows hold a whole system


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    budget: layout.LayoutBudget = layout.LayoutBudget()
    release_tail: float = RELEASE_TAIL_SECONDS
    piece_audio: bool = True  # whole-piece render for the piece record
    verify_images: bool = True  # staff height and staff count by the image estimator


@dataclasses.dataclass
class StageTimer:
    """Seconds spent per stage (parse, render, rasterize, synthesis, ...), for throughput reports."""

    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


@dataclasses.dataclass
class PieceResult:
    record: dict  # piece-level record (see `piece_record`)
    systems: list[dict]  # system examples
    dropped: list[dict]  # {"system": i, "reason": ...}
    timer: StageTimer


def notes_to_columns(notes: list[Note]) -> dict[str, list]:
    return {
        "start": [round(n.start, 4) for n in notes],
        "end": [round(n.end, 4) for n in notes],
        "pitch": [int(n.pitch) for n in notes],
        "velocity": [int(n.velocity) for n in notes],
        "program": [int(n.program) for n in notes],
        "is_drum": [bool(n.is_drum) for n in notes],
    }


def notes_from_columns(columns: dict) -> list[Note]:
    return [Note(float(s), float(e), int(p), int(v), int(g), bool(d)) for s, e, p, v, g, d in zip(
        columns["start"], columns["end"], columns["pitch"], columns["velocity"], columns["program"],
        columns["is_drum"])]


def _lmx_tokens_per_measure(root) -> list[int]:
    tokens = lmx.linearize(root)
    counts: list[int] = []
    for token in tokens:
        if token == "measure":
            counts.append(0)
        if counts:
            counts[-1] += 1
    return counts


def _key_fifths_per_measure(root) -> list[int]:
    fifths, result = 0, []
    for measure in musicxml.measures(root):
        value = measure.findtext("attributes/key/fifths")
        if value is not None:
            fifths = int(value)
        result.append(fifths)
    return result


def prepare_musicxml(piece: pieces.CorpusPiece, augmentation: Augmentation, timer: StageTimer,
                     max_seconds: float | None = None):
    """(cleaned MusicXML root, transposition applied) of a piece variant; PieceError on failure.

    With `max_seconds`, a piece that is clearly too long (estimated from its length in quarters
    and its first metronome mark) is refused before the costly reduction; the exact check follows
    once the performance is known.
    """
    started = time.perf_counter()
    score = pieces.load_score(piece)
    timer.add("parse", started)
    if max_seconds is not None:
        estimate = pieces.estimated_seconds(score) / augmentation.tempo_factor
        if estimate > 1.1 * max_seconds:
            raise pieces.PieceError(f"skipped: about {estimate:.0f} s long (this build's limit is "
                                    f"{max_seconds:.0f} s per piece)")
    started = time.perf_counter()
    reduced = pieces.pianoform(score)
    applied = pieces.transpose(reduced, augmentation.transpose_semitones)
    pieces.make_beams(reduced)
    pieces.spell_accidentals(reduced)
    xml = pieces.to_musicxml(reduced)
    try:
        root = notation.clean(musicxml.parse(xml))
    except ValueError as error:
        raise pieces.PieceError(f"exported MusicXML unusable: {error}") from None
    notation.renumber_measures(root)
    timer.add("reduce", started)
    return root, applied


def render_piece(
    piece: pieces.CorpusPiece,
    augmentation: Augmentation,
    settings: RenderSettings = RenderSettings(),
    progress: Callable[[int], None] | None = None,
    max_seconds: float | None = None,
) -> PieceResult:
    """Everything for one piece variant. Raises `pieces.PieceError` when the piece is unusable.

    The stages: MusicXML → performance and LMX lengths → system plan and engraving → raster images
    (checked) → audio per system → system examples → the piece record.
    """
    timer = StageTimer()
    root, applied = prepare_musicxml(piece, augmentation, timer, max_seconds)
    played, lmx_lengths = _perform(root, augmentation, timer, max_seconds)
    plans, document, svgs = _plan_and_engrave(root, played, lmx_lengths, augmentation, settings.budget, timer)

    started = time.perf_counter()
    lmx_core = lmx.linearize_systems(root)
    lmx_extended = lmx.linearize_systems(root, flavor="extended", problems=[])
    staves = musicxml.staff_count(root)
    timer.add("timing", started)

    # Images first: a system whose image fails a check is dropped (its audio still goes into the
    # piece record, which must hold the whole piece).
    images, checks, dropped = _rasterize_and_check(svgs, plans, [len(t) for t in lmx_core], staves, settings, timer)
    audio_parts = _synthesize(plans, played, augmentation, settings, timer)

    common = {
        "piece_id": piece.piece_id,
        "composer": piece.composer,
        "collection": piece.collection,
        "title": piece.title,
        "split": piece.split,
        "variant": augmentation.variant,
        "augmentation": augmentation.as_json(),
        "transpose_applied": applied,
        "tempo_qpm": round(played.tempo.initial_qpm, 3),
        "tempo_from_score": played.tempo_from_score,
        "soundfont": augmentation.soundfont,
        "font": augmentation.font,
    }
    systems: list[dict] = []
    for index, plan in enumerate(plans):
        if images[index] is None:
            continue
        started = time.perf_counter()
        systems.append(_system_example(common, index, plan, root, played, images[index], checks[index],
                                       (lmx_core[index], lmx_extended[index]), staves, audio_parts))
        timer.add("encode", started)
        if progress is not None:
            progress(1)

    started = time.perf_counter()
    record = _piece_record(common, root, document, plans, played, systems, audio_parts, settings)
    timer.add("piece_audio", started)
    return PieceResult(record, systems, dropped, timer)


def _perform(root, augmentation: Augmentation, timer: StageTimer,
             max_seconds: float | None) -> tuple[performance.Performance, list[int]]:
    """The variant's performance (notes, measure times) and the LMX tokens of each measure."""
    started = time.perf_counter()
    timing = performance.read_score(root)
    if not timing.measure_starts or not timing.notes:
        raise pieces.PieceError("no measures or no notes after reduction")
    played = performance.perform(timing, tempo_factor=augmentation.tempo_factor,
                                 velocity_sigma=augmentation.velocity_sigma, rng=augmentation.rng("velocity"))
    if max_seconds is not None and played.measure_seconds[-1] > max_seconds:
        raise pieces.PieceError(f"skipped: {played.measure_seconds[-1]:.0f} s long (this build's limit is "
                                f"{max_seconds:.0f} s per piece)")
    problems: list[str] = []
    try:
        lmx_lengths = _lmx_tokens_per_measure(root)
        lmx.linearize(root, problems=problems)
    except lmx.LmxError as error:
        raise pieces.PieceError(f"LMX: {error}") from None
    if problems:
        raise pieces.PieceError(f"LMX vocabulary: {problems[0]}")
    timer.add("timing", started)
    return played, lmx_lengths


def _plan_and_engrave(root, played: performance.Performance, lmx_lengths: list[int], augmentation: Augmentation,
                      budget: layout.LayoutBudget, timer: StageTimer) -> tuple[list[layout.SystemPlan], bytes, list[str]]:
    """System breaks within the budgets, written into `root` (breaks, re-spelt accidentals); one SVG each."""
    started = time.perf_counter()
    measure_total = len(played.measure_seconds) - 1
    try:
        widths = layout.natural_measure_widths(musicxml.to_bytes(root), augmentation.font)
    except Exception as error:  # verovio/engraving failure
        raise pieces.PieceError(f"engraving failed: {pieces._one_line(error)}") from None
    if len(widths) != measure_total or len(lmx_lengths) != measure_total:
        raise pieces.PieceError(f"measure counts disagree (MusicXML {measure_total}, verovio {len(widths)}, "
                                f"LMX {len(lmx_lengths)})")
    fifths = _key_fifths_per_measure(root)
    header = [0.0] + [layout.header_width_px(f) for f in fifths[1:]]
    plans = layout.choose_system_breaks(widths, np.diff(played.measure_seconds).tolist(), lmx_lengths, header,
                                        budget, target_width_px=budget.max_width_px * augmentation.layout_fill)
    starts = [plan.start for plan in plans]
    notation.set_system_breaks(root, starts)
    notation.respell_accidentals(root, starts)
    document = musicxml.to_bytes(root)
    svgs = _engrave_plans(document, plans, augmentation, budget)
    timer.add("engrave", started)
    return plans, document, svgs


def _rasterize_and_check(svgs: list[str], plans: list[layout.SystemPlan], lmx_lengths: list[int], staves: int,
                         settings: RenderSettings, timer: StageTimer):
    """(image or None per system, (measured staff height, staves detected) per system, dropped systems)."""
    started = time.perf_counter()
    try:
        rasters: list = layout.rasterize_all(svgs)
    except Exception:  # noqa: BLE001 - one bad page must not sink the others
        rasters = []
        for svg in svgs:
            try:
                rasters.append(layout.rasterize(svg))
            except Exception as page_error:  # noqa: BLE001
                rasters.append(f"rasterize failed: {pieces._one_line(page_error)}")
    timer.add("rasterize", started)
    images: list[layout.EngravedSystem | None] = []
    checks: list[tuple[float, int]] = []
    dropped: list[dict] = []
    for index, (plan, engraved) in enumerate(zip(plans, rasters)):
        if isinstance(engraved, str):
            engraved, reason = None, engraved
        else:
            reason = _image_problem(engraved, plan, lmx_lengths[index], settings.budget)
        measured_height, detected = float("nan"), -1
        if reason is None and settings.verify_images:
            started = time.perf_counter()
            measured_height, detected = _measure_staves(engraved.png)
            timer.add("verify", started)
            if detected == 0 or abs(measured_height - preprocessing.TARGET_STAFF_HEIGHT) > STAFF_HEIGHT_TOLERANCE:
                reason = f"measured staff height {measured_height:.2f} px"
            elif detected != staves:
                reason = f"{detected} staves detected, {staves} engraved"
        if reason is not None:
            dropped.append({"system": index, "reason": reason})
            engraved = None
        images.append(engraved)
        checks.append((measured_height, detected))
    return images, checks, dropped


@dataclasses.dataclass
class _SystemAudio:
    """Each system's notes and raw render; the piece is their overlap-add, normalised by one gain."""

    notes: list[list[Note]]
    raw: list[np.ndarray]
    offsets: list[float]
    piece_waveform: np.ndarray
    gain: float


def _synthesize(plans: list[layout.SystemPlan], played: performance.Performance, augmentation: Augmentation,
                settings: RenderSettings, timer: StageTimer) -> _SystemAudio:
    """Every system's own notes, rendered once; each system's release tail rings into the next, and one
    gain for the whole piece keeps its dynamics across systems."""
    started = time.perf_counter()
    renderer = process_renderer()
    system_notes, raw = [], []
    for plan in plans:
        span_start, span_end = played.measure_seconds[plan.start], played.measure_seconds[plan.stop]
        notes = performance.clip_notes(played.notes, span_start, span_end)
        system_notes.append(notes)
        raw.append(renderer.render(notes, span_end - span_start + settings.release_tail,
                                   augmentation.soundfont, normalize=False))
    offsets = [played.measure_seconds[plan.start] for plan in plans]
    piece_waveform = overlap_add(raw, offsets, played.measure_seconds[-1] + settings.release_tail)
    timer.add("synthesis", started)
    return _SystemAudio(system_notes, raw, offsets, piece_waveform, peak_gain(piece_waveform))


def _system_example(common: dict, index: int, plan: layout.SystemPlan, root, played: performance.Performance,
                    engraved: layout.EngravedSystem, check: tuple[float, int], lmx_tokens: tuple[list, list],
                    staves: int, audio_parts: _SystemAudio) -> dict:
    """The example of one system: image, LMX, notes, audio and their metadata."""
    waveform = audio_parts.raw[index] * audio_parts.gain
    if waveform.size and float(np.max(np.abs(waveform))) > 0.99:
        waveform = waveform * peak_gain(waveform)
    notes = audio_parts.notes[index]
    span_start, span_end = played.measure_seconds[plan.start], played.measure_seconds[plan.stop]
    midi_tokens = len(encode_window(notes, 0.0, min(span_end - span_start + 0.01, 20.0), MIDI_CODEC))
    rows, cols = grids.grid_shape_for_pixels(engraved.height, engraved.width)
    measured_height, detected = check
    core, extended = lmx_tokens
    return {
        **common,
        "id": f"{common['piece_id']}|v{common['variant']}|s{index:03d}",
        "system_index": index,
        "num_systems": len(audio_parts.raw),
        "measure_start": plan.start,
        "measure_stop": plan.stop,
        "span_start": round(span_start, 6),
        "span_end": round(span_end, 6),
        "lmx": " ".join(core),
        "lmx_extended": " ".join(extended),
        "staves": staves,
        # LMX does not restate the time signature at a system start; this is the one in force
        # (pass it to lmx.delinearize(..., time_signature=...) to size measure rests)
        "time_signature": notation.time_signature_before(root, plan.start),
        "image_width": engraved.width,
        "image_height": engraved.height,
        "staff_height_svg": round(engraved.staff_height, 3),
        "staff_height_measured": round(measured_height, 3),
        "staves_detected": detected,
        "notes": notes_to_columns(notes),
        "audio_samples": int(len(waveform)),
        "sample_rate": audio.SAMPLE_RATE,
        "lengths": {"lmx": len(core), "midi": midi_tokens, "image": rows * cols,
                    "image_rows": rows, "image_cols": cols, "audio": audio.num_frames(len(waveform))},
        "_png": engraved.png,
        "_flac": encode_flac(waveform),
    }


def _piece_record(common: dict, root, document: bytes, plans: list[layout.SystemPlan],
                  played: performance.Performance, systems: list[dict], audio_parts: _SystemAudio,
                  settings: RenderSettings) -> dict:
    """The whole-piece record: all notes and (optionally) all audio, with every system's span."""
    piece_notes = prepare_notes([dataclasses.replace(n, start=n.start + offset, end=n.end + offset)
                                 for notes, offset in zip(audio_parts.notes, audio_parts.offsets) for n in notes])
    record = {
        **common,
        "id": f"{common['piece_id']}|v{common['variant']}",
        "num_systems": len(plans),
        "systems_kept": [s["system_index"] for s in systems],
        "system_measures": [[p.start, p.stop] for p in plans],
        "system_spans": [[round(played.measure_seconds[p.start], 6), round(played.measure_seconds[p.stop], 6)]
                         for p in plans],
        "duration": round(played.measure_seconds[-1], 6),
        "measures": len(played.measure_seconds) - 1,
        "lmx": " ".join(lmx.linearize(root)),
        "notes": notes_to_columns(piece_notes),
        "sample_rate": audio.SAMPLE_RATE,
        "_musicxml": document,
    }
    if settings.piece_audio:
        record["audio_samples"] = int(len(audio_parts.piece_waveform))
        record["_flac"] = encode_flac(audio_parts.piece_waveform * audio_parts.gain)
    else:
        record["audio_samples"] = 0
        record["_flac"] = b""
    return record


def _engrave_plans(document: bytes, plans: list[layout.SystemPlan], augmentation: Augmentation,
                   budget: layout.LayoutBudget) -> list[str]:
    """One SVG per planned system. The page is the widest system's natural width × the variant's
    stretch plus a little slack (verovio breaks a system that overflows its page even in "line"
    mode); when verovio still splits a system, the page is widened and engraved again."""
    margins = 2 * layout.PAGE_MARGIN_UNITS * layout.CORPUS_SCALE / 100
    content_limit = layout.MAX_IMAGE_WIDTH - margins
    widest = max(plan.width_px for plan in plans)
    width = min(widest * augmentation.stretch * 1.03 + 24, content_limit)
    for _attempt in range(3):
        try:
            svgs = layout.render_system_svgs(document, augmentation.font, width + margins)
        except Exception as error:  # noqa: BLE001
            raise pieces.PieceError(f"engraving failed: {pieces._one_line(error)}") from None
        if len(svgs) == len(plans):
            return svgs
        if width >= content_limit:
            break
        width = min(width * 1.12 + 24, content_limit)
    raise pieces.PieceError(f"verovio made {len(svgs)} systems, {len(plans)} were encoded")


def _image_problem(engraved: layout.EngravedSystem, plan: layout.SystemPlan, lmx_length: int,
                   budget: layout.LayoutBudget) -> str | None:
    if engraved.measures != plan.stop - plan.start:
        return f"verovio put {engraved.measures} measures on the page, {plan.stop - plan.start} encoded"
    if engraved.width > layout.MAX_IMAGE_WIDTH:
        return f"image {engraved.width} px wide (> {layout.MAX_IMAGE_WIDTH})"
    if engraved.height > layout.MAX_IMAGE_HEIGHT:
        return f"image {engraved.height} px high (> {layout.MAX_IMAGE_HEIGHT})"
    if plan.seconds > budget.max_seconds + 1e-6:
        return f"one measure lasts {plan.seconds:.1f} s (> {budget.max_seconds} s)"
    if lmx_length > budget.max_lmx_tokens:
        return f"{lmx_length} LMX tokens (> {budget.max_lmx_tokens})"
    return None


def _measure_staves(png: bytes) -> tuple[float, int]:
    """(mean staff height, number of staves) found by the image estimator."""
    with Image.open(io.BytesIO(png)) as image:
        gray = np.asarray(image.convert("L"))
    found = staves.detect_staves(gray)
    return (float(np.mean([s.height for s in found])) if found else float("nan")), len(found)


def metadata_json(example: dict) -> str:
    """The example's fields without the binary payloads, as JSON."""
    return json.dumps({k: v for k, v in example.items() if not k.startswith("_")}, sort_keys=True)
