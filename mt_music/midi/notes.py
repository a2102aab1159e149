"""Notes of a MIDI performance: reading, sustain, the 10 ms grid, writing.

The event codec only sees notes on its time grid, so everything that makes a performance
encodable lives here: sustain pedal folded into offsets, times rounded to grid steps, a minimum
duration of one step, and overlapping notes of the same pitch and instrument trimmed so that
every note-on has its own note-off. `quantize_notes` is that canonical preparation; a round trip
through the codec reproduces its output exactly.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Sequence

import pretty_midi

from mt_music.errors import UserError

SUSTAIN_CONTROL_NUMBER = 64
DEFAULT_VELOCITY = 100
# Ticks per quarter note when writing: at 120 qpm one tick is 0.25 ms, so a 10 ms grid is exact.
WRITE_RESOLUTION = 2000
WRITE_TEMPO_QPM = 120.0


class MidiReadError(UserError, ValueError):
    """A MIDI file could not be read (missing, unreadable or corrupt)."""


@dataclasses.dataclass(frozen=True)
class Note:
    """A performed note, times in seconds. Drum notes carry no meaningful offset."""

    start: float
    end: float
    pitch: int
    velocity: int = DEFAULT_VELOCITY
    program: int = 0
    is_drum: bool = False


@dataclasses.dataclass(frozen=True, order=True)
class GridNote:
    """A note on the codec's time grid (integer steps): what the encoder consumes."""

    start_step: int
    end_step: int
    pitch: int
    program: int = 0
    is_drum: bool = False
    velocity: int = DEFAULT_VELOCITY

    @property
    def instrument_key(self) -> tuple[int, int, bool]:
        """Notes sharing this key are one voice for the codec (it cannot tell tracks apart)."""
        return (self.pitch, self.program, self.is_drum)


# ----------------------------------------------------------------------------- reading
def read_midi_notes(path: str | os.PathLike, *, apply_sustain: bool = True) -> list[Note]:
    """Notes of a MIDI file, sustain pedal applied; MidiReadError for bad files."""
    return notes_from_pretty_midi(load_pretty_midi(path), apply_sustain=apply_sustain)


def load_pretty_midi(path: str | os.PathLike) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file, turning pretty_midi's many failure types into MidiReadError."""
    if not os.path.isfile(path):
        raise MidiReadError(f"no such MIDI file: {os.fspath(path)}")
    try:
        return pretty_midi.PrettyMIDI(os.fspath(path))
    except Exception as error:  # mido/pretty_midi raise OSError, EOFError, KeyError, ValueError...
        reason = str(error) or type(error).__name__
        raise MidiReadError(f"cannot read MIDI file {os.fspath(path)}: {reason}") from error


def notes_from_pretty_midi(midi: pretty_midi.PrettyMIDI, *, apply_sustain: bool = True) -> list[Note]:
    """Notes of every instrument; sustain goes through note_seq only when a pedal is present."""
    if apply_sustain and _has_sustain_pedal(midi):
        return _sustained_notes(midi)
    return [
        Note(float(note.start), float(note.end), int(note.pitch), int(note.velocity),
             int(instrument.program), bool(instrument.is_drum))
        for instrument in midi.instruments
        for note in instrument.notes
    ]


def _has_sustain_pedal(midi: pretty_midi.PrettyMIDI) -> bool:
    return any(change.number == SUSTAIN_CONTROL_NUMBER
               for instrument in midi.instruments for change in instrument.control_changes)


def _sustained_notes(midi: pretty_midi.PrettyMIDI) -> list[Note]:
    """Extend offsets under CC64 per instrument, exactly as note_seq does (imported lazily: slow)."""
    with warnings.catch_warnings():  # its optional audio deps (pydub) warn on import
        warnings.simplefilter("ignore", DeprecationWarning)
        import note_seq  # heavy import, needed only for files with a pedal

    sequence = note_seq.apply_sustain_control_changes(
        note_seq.midi_to_note_sequence(midi), SUSTAIN_CONTROL_NUMBER)
    return [
        Note(note.start_time, note.end_time, note.pitch, note.velocity, note.program, note.is_drum)
        for note in sequence.notes
    ]


# ------------------------------------------------------------------------------- grid
def quantize_notes(notes: Iterable[Note], steps_per_second: int = 100) -> list[GridNote]:
    """Canonical grid notes: rounded times, drums one step long, >= 1 step, overlaps trimmed.

    Order matters: the minimum duration is applied before trimming, and trimming only ever cuts
    a note back to the next onset of the same voice, so every surviving note keeps >= 1 step.
    Exact duplicates (same voice, same onset step) collapse into the longest one.
    """
    rounded = [_round_to_grid(note, steps_per_second) for note in notes]
    return sorted(_trim_overlaps(rounded))


def _round_to_grid(note: Note, steps_per_second: int) -> GridNote:
    _check_midi_range("pitch", note.pitch)
    _check_midi_range("program", note.program)
    start = max(0, nearest_step(note.start, steps_per_second))
    end = nearest_step(note.end, steps_per_second)
    if note.is_drum or end <= start:
        end = start + 1
    program = 0 if note.is_drum else int(note.program)  # drums share one kit; program is not coded
    return GridNote(start, end, int(note.pitch), program, bool(note.is_drum), int(note.velocity))


def nearest_step(seconds: float, steps_per_second: int) -> int:
    """Grid step nearest to a time in seconds."""
    # Halves round up (Python's round() would round them to even and shift grid points).
    return int((seconds * steps_per_second + 0.5) // 1)


def _check_midi_range(name: str, value: int) -> None:
    if not 0 <= value <= 127:
        raise ValueError(f"note {name} {value} outside 0..127")


def _trim_overlaps(notes: Sequence[GridNote]) -> list[GridNote]:
    by_voice: dict[tuple[int, int, bool], list[GridNote]] = {}
    for note in sorted(notes, key=lambda n: (n.start_step, n.end_step)):
        by_voice.setdefault(note.instrument_key, []).append(note)
    trimmed = []
    for voice_notes in by_voice.values():
        for note, following in zip(voice_notes, voice_notes[1:] + [None]):
            if following is not None and note.end_step > following.start_step:
                note = dataclasses.replace(note, end_step=following.start_step)
            if note.end_step > note.start_step:
                trimmed.append(note)
    return trimmed


def grid_notes_to_notes(grid_notes: Iterable[GridNote], steps_per_second: int = 100) -> list[Note]:
    """Back to seconds (step / steps_per_second), keeping the grid order."""
    return [
        Note(note.start_step / steps_per_second, note.end_step / steps_per_second, note.pitch,
             note.velocity, note.program, note.is_drum)
        for note in grid_notes
    ]


def prepare_notes(notes: Iterable[Note], steps_per_second: int = 100) -> list[Note]:
    """`quantize_notes` expressed in seconds: the reference a codec round trip must reproduce."""
    return grid_notes_to_notes(quantize_notes(notes, steps_per_second), steps_per_second)


# ------------------------------------------------------------------------------ writing
def notes_to_pretty_midi(notes: Iterable[Note]) -> pretty_midi.PrettyMIDI:
    """One instrument per (program, is_drum), on a tick grid that holds 10 ms times exactly."""
    midi = pretty_midi.PrettyMIDI(resolution=WRITE_RESOLUTION, initial_tempo=WRITE_TEMPO_QPM)
    instruments: dict[tuple[int, bool], pretty_midi.Instrument] = {}
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        key = (note.program, note.is_drum)
        if key not in instruments:
            name = "drums" if note.is_drum else pretty_midi.program_to_instrument_name(note.program)
            instruments[key] = pretty_midi.Instrument(program=note.program, is_drum=note.is_drum, name=name)
        instruments[key].notes.append(
            pretty_midi.Note(velocity=int(note.velocity), pitch=int(note.pitch),
                             start=float(note.start), end=float(note.end)))
    midi.instruments.extend(instruments[key] for key in sorted(instruments))
    return midi


def write_midi_notes(notes: Iterable[Note], path: str | os.PathLike) -> None:
    notes_to_pretty_midi(notes).write(os.fspath(path))
