r"""Decodes a user's files with an exported model: `python -m mt_music.decode DIRECTION INPUT… -o OUT --model EXPORT`.

    python -m mt_music.decode omr page.png scans/ -o out --model exports/corpus_cpu
    python -m mt_music.decode audio2midi take.flac -o out --model exports/corpus_cpu
    python -m mt_music.decode midi2audio piece.mid -o out --model exports/corpus_cpu --seed 3

DIRECTION is any of the model's directions (`image2lmx`, `audio2midi`, …; see --help), a name of
the field (omr, engraving, amt, synthesis), several joined by commas, or `all` (each direction then
decodes the inputs of its source modality). A folder as INPUT decodes every file in it that the
direction reads. Each input gives OUT/<name>.musicxml + .lmx (LMX outputs), .mid, .wav, or
<name>_system<N>.png (with several directions <name>_<direction>…); `--report page.html` adds one
page with every input beside its output. The systems and windows of several files share batches
(`--batch-size`). A file that is not what the direction reads gets one `error:` line and the others
are still decoded (the exit status is then 2). The Python API:

    from mt_music.decode import Translator
    score = Translator("exports/corpus_cpu").omr("page.png")
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mt_music.data.directions import Direction
from mt_music.errors import ArgumentParser, UserError, check_output_dir, check_output_file, main_with_errors, one_line
from mt_music.inference import report
from mt_music.inference.inputs import SUFFIXES
from mt_music.inference.translator import DecodeSettings, Translator

__all__ = ["DecodeSettings", "Translator", "main"]

ALIASES = {"omr": "image2lmx", "engraving": "lmx2image", "amt": "audio2midi", "synthesis": "midi2audio"}
DIRECTIONS = tuple(f"{s}2{t}" for s in ("image", "lmx", "midi", "audio") for t in ("image", "lmx", "midi", "audio")
                   if s != t)


def parse_directions(names: str) -> list[Direction]:
    """`image2lmx`, `omr`, a comma-separated list of them, or `all` (the 12 directions)."""
    if names.lower() == "all":
        return [Direction.parse(name) for name in DIRECTIONS]
    return [parse_direction(name) for name in names.split(",") if name.strip()]


def parse_direction(name: str) -> Direction:
    name = ALIASES.get(name.lower(), name.lower())
    if name not in DIRECTIONS:
        raise UserError(f"DIRECTION: {name!r} is not a direction; give one of {', '.join(DIRECTIONS)} "
                        f"or {', '.join(ALIASES)}")
    return Direction.parse(name)


def input_files(paths: Sequence[str], direction: Direction, *, several: bool = False) -> list[Path]:
    """The files to decode: each file given, and every readable file under each folder given. With
    `several` directions, each takes only the files of its source modality (and may have none)."""
    suffixes = SUFFIXES[direction.source]
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not found and not several:
                raise UserError(f"INPUT: {path} holds no {direction.source.name} files ({', '.join(suffixes)})")
            files += found
        elif not path.exists():
            raise UserError(f"INPUT: {path} does not exist")
        elif not several or path.suffix.lower() in suffixes:
            files.append(path)
    return files


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mt_music.decode",
        description="Translate files with an exported mt_music model (python -m mt_music.export): score images "
                    "(PNG/JPEG/PDF pages), LMX or MusicXML, MIDI and audio, in any direction the model has.")
    parser.add_argument("direction", help=f"one of {', '.join(DIRECTIONS)}, or {', '.join(ALIASES)}; several "
                        "separated by commas, or `all`: each direction decodes the inputs of its source modality")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders to decode")
    parser.add_argument("-o", "--output", required=True, help="folder for the outputs (created if needed)")
    parser.add_argument("--model", required=True, help="an export folder (python -m mt_music.export)")
    defaults = DecodeSettings()
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="windows / systems per batch")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="sampling seed")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (0 = greedy; default: the published one per output modality)")
    parser.add_argument("--top-k", type=int, default=defaults.top_k, help="top-k sampling (0 = off)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default: per output modality)")
    parser.add_argument("--max-length", type=int, default=None, help="decoder frames per window / system")
    parser.add_argument("--window-seconds", type=float, default=defaults.window_seconds,
                        help="audio and MIDI windows (default 10 s, the published AMT setting)")
    parser.add_argument("--synthesis-window-seconds", type=float, default=defaults.synthesis_window_seconds,
                        help="MIDI→audio windows (default 18 s)")
    parser.add_argument("--report", default=None, metavar="HTML",
                        help="also write one HTML page with every input beside its output and the settings")
    parser.add_argument("--overlap-seconds", type=float, default=defaults.overlap_seconds,
                        help="MIDI→audio: audio of the previous window fed back as a prefix (default 2 s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    args = _parser().parse_args(argv)
    directions = parse_directions(args.direction)
    several = len(directions) > 1
    jobs = [(direction, path) for direction in directions
            for path in input_files(args.inputs, direction, several=several)]
    if not jobs:
        raise UserError(f"INPUT: nothing among {' '.join(args.inputs)} is read by {args.direction}")
    output = check_output_dir(args.output, "-o")
    if args.report:
        check_output_file(args.report, "--report")
    settings = DecodeSettings(batch_size=args.batch_size, seed=args.seed, temperature=args.temperature,
                              top_k=args.top_k, top_p=args.top_p, max_length=args.max_length,
                              window_seconds=args.window_seconds,
                              synthesis_window_seconds=args.synthesis_window_seconds,
                              overlap_seconds=args.overlap_seconds)
    translator = Translator(args.model, settings)
    failed, entries = 0, []
    stems = {direction: _unique_stems([p for d, p in jobs if d == direction]) for direction in directions}
    with tqdm(total=len(jobs), desc=args.direction, unit="file", disable=len(jobs) < 2) as bar:
        for direction in directions:
            paths = [p for d, p in jobs if d == direction]
            started = time.perf_counter()
            for translated in translator.translate_many(direction, paths):  # files share batches
                seconds = time.perf_counter() - started  # this file's share: since the previous one was ready
                started = time.perf_counter()
                bar.update(1)
                path = translated.source
                if translated.error is not None:
                    failed += 1
                    tqdm.write(f"error: {one_line(translated.error)}", file=sys.stderr)  # its own line, past the bar
                    entries.append(report.Entry(direction.name, path, [], seconds, error=one_line(translated.error)))
                    continue
                stem = stems[direction][path]
                written = translated.output.write(output / (f"{stem}_{direction.name}" if several else stem))
                entries.append(report.Entry(direction.name, path, written, seconds,
                                            [u.image for u in translated.units if u.image is not None]))
                shown = ", ".join(str(p) for p in written[:2]) + (f" … ({len(written)} files)" if len(written) > 2 else "")
                tqdm.write(f"{path} → {shown} ({seconds:.1f} s)")
    if args.report:
        report.write_report(Path(args.report), entries, {"model": args.model, "direction": args.direction,
                                                         **dataclasses.asdict(settings)})
        print(f"report: {args.report}")
    if failed:
        print(f"error: {failed} of {len(jobs)} inputs could not be decoded (see above)", file=sys.stderr)
        return 2
    return 0


def _unique_stems(files: list[Path]) -> dict[Path, str]:
    """Output names: the input's stem, made unique when two inputs share one."""
    stems, seen = {}, {}
    for path in dict.fromkeys(files):
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        stems[path] = path.stem if not count else f"{path.stem}_{count + 1}"
    return stems


if __name__ == "__main__":
    sys.exit(main_with_errors(main))
