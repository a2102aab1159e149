"""Command line for the MIDI event codec: `python -m mt_music.midi {encode,decode,roundtrip}`."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from mt_music.errors import ArgumentParser, UserError, check_output_file, check_positive, main_with_errors
from mt_music.midi.codec import UNK_ID, MidiEventCodec
from mt_music.midi.events import EventDecoder, encode_window
from mt_music.midi.metrics import measure_roundtrip
from mt_music.midi.notes import (
    nearest_step,
    read_midi_notes,
    write_midi_notes,
)
from mt_music.midi.windows import (
    DEFAULT_WINDOW_SECONDS,
    encode_performance,
    window_steps,
)

DESCRIPTION = """\
MT3-style MIDI event tokens on a 10 ms grid (docs/design.md §3.2).

A window's tokens: tie section (notes still sounding from before the window), `tie`, then
`shift:t` (absolute step from the window start), `program:p`, `velocity:0|1`, `pitch:n` /
`drum:n`, and `EOS`. Token ids depend on --max-shift-steps (it sets the size of the shift
block), so decode ids with the same value they were encoded with; readable tokens do not.
"""

EPILOG = """\
examples:
  python -m mt_music.midi encode piece.mid --start 10 --end 20
  python -m mt_music.midi encode piece.mid --all-windows > piece.tokens
  python -m mt_music.midi decode piece.tokens --lines -o decoded.mid
  python -m mt_music.midi roundtrip piece.mid --window-seconds 20
"""


class CliError(UserError):
    """A user-facing problem: printed as one line, exit status 2."""


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m mt_music.midi", description=DESCRIPTION,
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    encode = commands.add_parser("encode", help="print the tokens of a MIDI file's window(s)",
                                 description="Print the tokens of one window [START, END) of a MIDI "
                                             "file, or of every consecutive window with --all-windows "
                                             "(one window per line).")
    encode.add_argument("midi", metavar="IN.mid", help="MIDI file to encode")
    span = encode.add_mutually_exclusive_group()
    span.add_argument("--start", type=float, default=0.0, help="window start in seconds (default 0)")
    span.add_argument("--all-windows", action="store_true",
                      help="encode the whole piece as consecutive windows from 0 s, one per line")
    encode.add_argument("--end", type=float, default=None,
                        help="window end in seconds (default START + --window-seconds)")
    encode.add_argument("--ids", action="store_true", help="print integer ids instead of readable tokens")
    _add_codec_arguments(encode)
    _add_sustain_argument(encode)

    decode = commands.add_parser("decode", help="turn a file of tokens back into a MIDI file",
                                 description="Decode whitespace-separated tokens (readable names such as "
                                             "'pitch:60', or integer ids, or a mix) into a MIDI file and "
                                             "print how many events were invalid or dropped. Unknown "
                                             "names count as invalid; decoding never stops on bad tokens.")
    decode.add_argument("tokens", metavar="TOKENS_FILE", help="file of tokens; '-' reads standard input")
    decode.add_argument("-o", "--output", required=True, metavar="OUT.mid", help="MIDI file to write")
    decode.add_argument("--start", type=float, default=0.0, help="time of the (first) window start (default 0)")
    decode.add_argument("--lines", action="store_true",
                        help="each non-empty line is one window; windows follow each other every "
                             "--window-seconds and are stitched (notes continue through tie sections)")
    _add_codec_arguments(decode)

    roundtrip = commands.add_parser("roundtrip", help="measure whole-piece encode -> decode fidelity",
                                    description="Cut a MIDI file into consecutive windows, encode, decode "
                                                "and stitch them, and print mir_eval onset F1 and "
                                                "onset+offset F1 against the notes on the 10 ms grid.")
    roundtrip.add_argument("midi", metavar="IN.mid", help="MIDI file to measure")
    _add_codec_arguments(roundtrip)
    _add_sustain_argument(roundtrip)
    return parser


def _add_codec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window-seconds", type=float, default=DEFAULT_WINDOW_SECONDS,
                        help=f"window length in seconds (default {DEFAULT_WINDOW_SECONDS:g})")
    parser.add_argument("--max-shift-steps", type=int, default=None,
                        help="largest shift value of the codec (default: the window length in "
                             "10 ms steps, i.e. 1000 for 10 s windows, 2000 for 20 s)")


def _add_sustain_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-sustain", action="store_true",
                        help="ignore the sustain pedal (CC64) instead of extending note offsets")


def _codec_from(args: argparse.Namespace) -> MidiEventCodec:
    if not math.isfinite(args.window_seconds):
        raise CliError(f"--window-seconds must be a number of seconds, got {args.window_seconds}")
    check_positive(args.window_seconds, "--window-seconds")
    if args.max_shift_steps is not None:
        check_positive(args.max_shift_steps, "--max-shift-steps")
    steps = args.window_seconds * 100  # the codec's default grid: 100 steps per second
    max_shift = args.max_shift_steps if args.max_shift_steps is not None else max(1, round(steps))
    try:
        return MidiEventCodec(max_shift_steps=max_shift)
    except ValueError as error:
        raise CliError(str(error)) from error


# --------------------------------------------------------------------------- commands
def run_encode(args: argparse.Namespace) -> None:
    codec = _codec_from(args)
    notes = _notes_of(args.midi, apply_sustain=not args.no_sustain)
    if args.all_windows:
        if args.end is not None:
            raise CliError("--end cannot be combined with --all-windows")
        windows = [window.tokens for window in encode_performance(notes, codec, args.window_seconds)]
    else:
        end = args.start + args.window_seconds if args.end is None else args.end
        if not (math.isfinite(args.start) and math.isfinite(end)) or args.start < 0 or end <= args.start:
            raise CliError(f"need 0 <= --start < --end, got {args.start:g} and {end:g}")
        last = max(note.end for note in notes)
        if args.start >= last:
            raise CliError(f"--start {args.start:g} is past the end of {args.midi} (its last note ends at "
                           f"{last:.2f} s); give an earlier --start")
        steps = nearest_step(end, codec.steps_per_second) - nearest_step(args.start, codec.steps_per_second)
        if steps > codec.max_shift_steps:
            raise CliError(f"window of {end - args.start:g} s needs --max-shift-steps >= {steps}")
        windows = [encode_window(notes, args.start, end, codec)]
    for tokens in windows:
        print(" ".join(str(t) for t in tokens) if args.ids else " ".join(codec.ids_to_strings(tokens)))


def run_decode(args: argparse.Namespace) -> None:
    codec = _codec_from(args)
    check_output_file(args.output, "-o/--output")
    text = _read_tokens_text(args.tokens)
    if not text.split():
        raise CliError(f"tokens file {args.tokens} holds no tokens; nothing to decode")
    chunks = [line for line in text.splitlines() if line.strip()] if args.lines else [text]
    steps_per_window = window_steps(args.window_seconds, codec) if args.lines else 0
    decoder = EventDecoder(codec)
    first_step = nearest_step(args.start, codec.steps_per_second)
    for index, chunk in enumerate(chunks):
        start_step = first_step + index * steps_per_window
        decoder.decode_window(parse_tokens(chunk, codec), start_step,
                              start_step + steps_per_window if args.lines else None)
    notes = decoder.finish()
    if not notes:
        raise CliError(f"no notes decoded from {args.tokens}: {decoder.stats.summary()}; "
                       "is it a file of MIDI event tokens? (nothing written)")
    try:
        write_midi_notes(notes, args.output)
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror or error}") from error
    print(f"wrote {len(notes)} notes from {len(chunks)} window(s) to {args.output}")
    print(decoder.stats.summary())
    if not args.lines and decoder.stats.reasons["after_eos"] and len(text.strip().splitlines()) > 1:
        print("hint: tokens continue after EOS on later lines; use --lines for one window per line",
              file=sys.stderr)


def _read_tokens_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise CliError(f"cannot read tokens file {path}: {reason}") from error


def parse_tokens(text: str, codec: MidiEventCodec) -> list[int]:
    """Whitespace-separated ids or readable names; anything unrecognised becomes UNK."""
    ids = []
    for word in text.split():
        if word.lstrip("-").isdigit():
            ids.append(int(word))
        else:
            try:
                ids.append(codec.string_to_id(word))
            except ValueError:
                ids.append(UNK_ID)
    return ids


def run_roundtrip(args: argparse.Namespace) -> None:
    codec = _codec_from(args)
    notes = _notes_of(args.midi, apply_sustain=not args.no_sustain)
    result = measure_roundtrip(notes, codec, args.window_seconds)
    print(f"{args.midi}: {result.onset.num_reference} notes on the 10 ms grid, "
          f"{result.num_windows} windows of {args.window_seconds:g} s")
    print(f"onset F1: {result.onset.f1:.4f}")
    print(f"onset+offset F1: {result.onset_offset.f1:.4f}")
    print(f"onset+offset F1 (program-aware): {result.program_aware_onset_offset.f1:.4f}")
    print(f"identical to reference: {'yes' if result.identical else 'no'}")
    print(result.stats.summary())


def _notes_of(path: str, apply_sustain: bool) -> list:
    """The notes of a MIDI file; one without notes is an error (nothing to encode or measure)."""
    notes = read_midi_notes(path, apply_sustain=apply_sustain)
    if not notes:
        raise CliError(f"{path} has no notes; nothing to encode or measure")
    return notes


COMMANDS = {"encode": run_encode, "decode": run_decode, "roundtrip": run_roundtrip}


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except ValueError as error:  # the codec's own checks of values the user gave
        if isinstance(error, UserError):
            raise
        raise CliError(str(error)) from error
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m mt_music.midi`; returns the exit status."""
    return main_with_errors(_main, argv)
