"""One window of MIDI events: grid notes -> token ids, and token ids -> notes.

A window's tokens are self-contained so a model can emit them on its own:

    tie section   notes sounding at the window start that began before it, sorted by
                  (program, pitch), as `[program p] pitch n` (program on change)
    tie
    events        sorted by (step, is_drum, program, velocity, pitch):
                  `shift t` when time advances (t = absolute step from the window start),
                  `program p` / `velocity v` on change, then `pitch n`; drums `velocity 1` `drum n`
    EOS

Offsets at or after the window end belong to a later window (the note is tied there). The
decoder never raises on bad tokens: it skips what it cannot use and counts it in DecodeStats.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from mt_music.midi.codec import EOS_ID, PAD_ID, MidiEventCodec
from mt_music.midi.notes import (
    DEFAULT_VELOCITY,
    GridNote,
    Note,
    grid_notes_to_notes,
    nearest_step,
    quantize_notes,
)

NOTE_OFF, NOTE_ON = 0, 1
# (pitch, program) of a sounding non-drum note: the decoder's notion of a voice.
VoiceKey = tuple[int, int]


# =============================================================================== encoding
def encode_window(notes: Iterable[Note], start: float, end: float, codec: MidiEventCodec,
                  *, add_eos: bool = True) -> list[int]:
    """Token ids of the notes in [start, end) seconds (notes are put on the grid first)."""
    steps = codec.steps_per_second
    return encode_grid_window(quantize_notes(notes, steps), nearest_step(start, steps),
                              nearest_step(end, steps), codec, add_eos=add_eos)


def encode_grid_window(grid_notes: Sequence[GridNote], start_step: int, end_step: int,
                       codec: MidiEventCodec, *, add_eos: bool = True) -> list[int]:
    """Token ids of prepared grid notes (see `quantize_notes`) in [start_step, end_step)."""
    if not 0 < end_step - start_step <= codec.max_shift_steps:
        raise ValueError(f"window of {end_step - start_step} steps does not fit 1..{codec.max_shift_steps}")
    writer = _TokenWriter(codec, start_step)
    for note in sorted(_tied_notes(grid_notes, start_step), key=lambda n: (n.program, n.pitch)):
        writer.program(note.program)
        writer.add("pitch", note.pitch)
    writer.add("tie")
    for step, is_drum, program, velocity, pitch in sorted(_window_events(grid_notes, start_step, end_step)):
        writer.shift_to(step)
        if not is_drum:
            writer.program(program)
        writer.velocity(velocity)
        writer.add("drum" if is_drum else "pitch", pitch)
    if add_eos:
        writer.tokens.append(EOS_ID)
    return writer.tokens


def _tied_notes(grid_notes: Iterable[GridNote], start_step: int) -> list[GridNote]:
    """Non-drum notes begun before the window and still sounding at its first step."""
    return [n for n in grid_notes if not n.is_drum and n.start_step < start_step < n.end_step]


def _window_events(grid_notes: Iterable[GridNote], start_step: int,
                   end_step: int) -> list[tuple[int, bool, int, int, int]]:
    """(step, is_drum, program, velocity, pitch) of the onsets and offsets inside the window."""
    events = []
    for note in grid_notes:
        if start_step <= note.start_step < end_step:
            events.append((note.start_step, note.is_drum, note.program, NOTE_ON, note.pitch))
        if not note.is_drum and start_step < note.end_step < end_step:
            events.append((note.end_step, False, note.program, NOTE_OFF, note.pitch))
    return events


class _TokenWriter:
    """Appends ids, emitting shift/program/velocity only when they change."""

    def __init__(self, codec: MidiEventCodec, start_step: int) -> None:
        self._codec = codec
        self._start_step = start_step
        self._step = start_step
        self._program: int | None = None
        self._velocity: int | None = None
        self.tokens: list[int] = []

    def add(self, event_type: str, value: int = 0) -> None:
        self.tokens.append(self._codec.encode_event(event_type, value))

    def shift_to(self, step: int) -> None:
        if step != self._step:
            self.add("shift", step - self._start_step)
            self._step = step

    def program(self, program: int) -> None:
        if program != self._program:
            self.add("program", program)
            self._program = program

    def velocity(self, velocity: int) -> None:
        if velocity != self._velocity:
            self.add("velocity", velocity)
            self._velocity = velocity


# =============================================================================== decoding
@dataclasses.dataclass
class DecodeStats:
    """What a decoder could not use. `reasons` breaks invalid + dropped down by cause."""

    invalid_events: int = 0  # tokens that make no sense where they stand (skipped)
    dropped_events: int = 0  # well-formed tokens ignored: after EOS or past the window end
    unclosed_notes: int = 0  # notes never switched off, closed when decoding finished
    windows_without_eos: int = 0
    reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def invalid(self, reason: str) -> None:
        self.invalid_events += 1
        self.reasons[reason] += 1

    def dropped(self, reason: str, count: int) -> None:
        if count:
            self.dropped_events += count
            self.reasons[reason] += count

    def merge(self, other: DecodeStats) -> None:
        self.invalid_events += other.invalid_events
        self.dropped_events += other.dropped_events
        self.unclosed_notes += other.unclosed_notes
        self.windows_without_eos += other.windows_without_eos
        self.reasons.update(other.reasons)

    def summary(self) -> str:
        causes = ", ".join(f"{reason}={count}" for reason, count in sorted(self.reasons.items()))
        return (f"invalid events: {self.invalid_events}, dropped events: {self.dropped_events}, "
                f"unclosed notes: {self.unclosed_notes}" + (f" ({causes})" if causes else ""))


@dataclasses.dataclass
class _WindowState:
    """Decoding state that a window does not inherit from the one before it."""

    start_step: int
    step: int
    program: int | None = None
    velocity: int | None = None
    in_tie_section: bool = True
    tied: set[VoiceKey] = dataclasses.field(default_factory=set)


class EventDecoder:
    """Decodes consecutive windows into notes; sounding notes carry over through tie sections.

    Feed windows in time order with `decode_window`, then call `finish` once.
    """

    def __init__(self, codec: MidiEventCodec, *, velocity: int = DEFAULT_VELOCITY) -> None:
        self._codec = codec
        self._note_velocity = velocity
        self._sounding: dict[VoiceKey, int] = {}  # voice -> onset step
        self._notes: list[GridNote] = []
        self._last_step = 0
        self.stats = DecodeStats()

    # ------------------------------------------------------------------ public
    def decode_window(self, tokens: Iterable[int], start_step: int = 0,
                      end_step: int | None = None) -> DecodeStats:
        """Decode one window (1-D ids) from `start_step`; events after `end_step` are dropped."""
        tokens = tokens.reshape(-1).tolist() if isinstance(tokens, np.ndarray) else list(tokens)
        stats = DecodeStats()
        window = _WindowState(start_step=start_step, step=start_step)
        for index, token in enumerate(tokens):
            if _is_terminator(token):
                stats.dropped("after_eos", _count_content(tokens[index + 1:]))
                break
            if not self._decode_token(token, window, end_step, stats):
                stats.dropped("past_window_end", _count_until_terminator(tokens[index:]))
                break
        else:
            stats.windows_without_eos += 1
        if window.in_tie_section:
            stats.invalid("missing_tie")
            self._end_tie_section(window)
        self._last_step = max(self._last_step, window.step)
        self.stats.merge(stats)
        return stats

    def finish_grid(self) -> list[GridNote]:
        """All decoded notes on the grid; notes still sounding end at the last decoded step."""
        for (pitch, program), onset in sorted(self._sounding.items()):
            self._close(pitch, program, onset, self._last_step)
            self.stats.unclosed_notes += 1
        self._sounding.clear()
        return sorted(self._notes)

    def finish(self) -> list[Note]:
        return grid_notes_to_notes(self.finish_grid(), self._codec.steps_per_second)

    # --------------------------------------------------------------- per token
    def _decode_token(self, token: int, window: _WindowState, end_step: int | None,
                      stats: DecodeStats) -> bool:
        """Apply one token; False when it lies past the window end (stop decoding)."""
        try:
            event_type, value = self._codec.decode_id(token)
        except (TypeError, ValueError, OverflowError):
            stats.invalid("id_out_of_range")
            return True
        if event_type == "UNK":
            stats.invalid("unknown_token")
        elif event_type == "tie":
            self._on_tie(window, stats)
        elif event_type == "program":
            window.program = value
        elif window.in_tie_section and event_type == "pitch":
            self._on_tied_pitch(value, window, stats)
        else:
            if window.in_tie_section:  # time, velocity or drum before any `tie`: the tie was left out
                stats.invalid("missing_tie")
                self._end_tie_section(window)
            if event_type == "shift":
                return self._on_shift(value, window, end_step, stats)
            if event_type == "velocity":
                window.velocity = value
            elif event_type == "pitch":
                self._on_pitch(value, window, stats)
            elif event_type == "drum":
                self._on_drum(value, window, stats)
        return True

    def _on_tie(self, window: _WindowState, stats: DecodeStats) -> None:
        if window.in_tie_section:
            self._end_tie_section(window)
        else:
            stats.invalid("tie_outside_tie_section")

    def _on_tied_pitch(self, pitch: int, window: _WindowState, stats: DecodeStats) -> None:
        if window.program is None:
            stats.invalid("pitch_without_program")
            return
        voice = (pitch, window.program)
        if voice not in self._sounding:
            stats.invalid("tie_of_silent_note")
        elif voice in window.tied:
            stats.invalid("duplicate_tie")
        else:
            window.tied.add(voice)

    def _end_tie_section(self, window: _WindowState) -> None:
        """Notes not declared tied stopped sounding at the window start."""
        for voice in [v for v in self._sounding if v not in window.tied]:
            self._close(*voice, self._sounding.pop(voice), window.start_step)
        window.in_tie_section = False

    def _on_shift(self, shift: int, window: _WindowState, end_step: int | None,
                  stats: DecodeStats) -> bool:
        step = window.start_step + shift
        if end_step is not None and step > end_step:
            return False
        if step < window.step:
            stats.invalid("shift_backwards")
        else:
            window.step = step
        return True

    def _on_pitch(self, pitch: int, window: _WindowState, stats: DecodeStats) -> None:
        if window.velocity is None:
            stats.invalid("pitch_without_velocity")
        elif window.program is None:
            stats.invalid("pitch_without_program")
        elif window.velocity == NOTE_OFF:
            self._note_off((pitch, window.program), window.step, stats)
        else:
            self._note_on((pitch, window.program), window.step, stats)

    def _note_off(self, voice: VoiceKey, step: int, stats: DecodeStats) -> None:
        if voice in self._sounding:
            self._close(*voice, self._sounding.pop(voice), step)
        else:
            stats.invalid("note_off_of_silent_note")

    def _note_on(self, voice: VoiceKey, step: int, stats: DecodeStats) -> None:
        onset = self._sounding.get(voice)
        if onset == step:
            stats.invalid("duplicate_note_on")
            return
        if onset is not None:  # re-struck without a note-off: end the old note here
            stats.invalid("note_on_of_sounding_note")
            self._close(*voice, onset, step)
        self._sounding[voice] = step

    def _on_drum(self, pitch: int, window: _WindowState, stats: DecodeStats) -> None:
        if window.velocity is None:
            stats.invalid("drum_without_velocity")
        elif window.velocity == NOTE_OFF:
            stats.invalid("drum_note_off")
        else:
            self._notes.append(GridNote(window.step, window.step + 1, pitch, 0, True, self._note_velocity))

    def _close(self, pitch: int, program: int, onset: int, step: int) -> None:
        end = max(step, onset + 1)  # a note lasts at least one step
        self._notes.append(GridNote(onset, end, pitch, program, False, self._note_velocity))


def _is_terminator(token: object) -> bool:
    return token == EOS_ID or token == PAD_ID


def _count_content(tokens: Sequence[int]) -> int:
    return sum(1 for token in tokens if token != PAD_ID)


def _count_until_terminator(tokens: Sequence[int]) -> int:
    for index, token in enumerate(tokens):
        if _is_terminator(token):
            return index
    return len(tokens)


def decode_tokens(tokens: Iterable[int], codec: MidiEventCodec, *, start: float = 0.0,
                  end: float | None = None) -> tuple[list[Note], DecodeStats]:
    """Notes of a single window's tokens (its tie section refers to notes nobody opened)."""
    steps = codec.steps_per_second
    decoder = EventDecoder(codec)
    decoder.decode_window(tokens, nearest_step(start, steps),
                          None if end is None else nearest_step(end, steps))
    return decoder.finish(), decoder.stats
