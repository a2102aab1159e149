"""MIDI event vocabulary: the native token ids of the MT3-style MIDI codec (docs/design.md §3.2).

Layout (ids in this order, each block contiguous):

    PAD=0  EOS=1  UNK=2
    shift    0..max_shift_steps   absolute tick from the window start (10 ms per tick)
    pitch    0..127
    velocity 0..1                 0 = note-off, 1 = note-on
    tie      (one token)          ends the tie section at the start of a window
    program  0..127
    drum     0..127

The unified vocabulary (`mt_music.vocabulary`) places this block as a whole, so the
layout is a contract: change it only together with that module.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
NUM_SPECIAL_TOKENS = 3
SPECIAL_TOKEN_NAMES = ("PAD", "EOS", "UNK")

# Event types in vocabulary order.
EVENT_TYPES = ("shift", "pitch", "velocity", "tie", "program", "drum")
# Types whose readable form carries no value ("tie", not "tie:0").
VALUELESS_TYPES = frozenset({"tie"})


class Event(NamedTuple):
    """One vocabulary event: its type name and integer value (0 for valueless types)."""

    type: str
    value: int


class EventRange(NamedTuple):
    """Where an event type's ids lie: value v has id `first_id + v`, v in 0..num_values-1."""

    first_id: int
    num_values: int

    @property
    def last_id(self) -> int:
        return self.first_id + self.num_values - 1


@dataclasses.dataclass(frozen=True)
class MidiEventCodec:
    """Maps MIDI events (type, value) to native token ids and back.

    `max_shift_steps` is the largest absolute shift inside a window (1000 for 10 s windows at
    100 steps/s, 2000 for 20 s); `steps_per_second` sets the time grid (100 = 10 ms ticks).
    """

    max_shift_steps: int = 1000
    steps_per_second: int = 100
    _ranges: dict[str, EventRange] = dataclasses.field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in ("max_shift_steps", "steps_per_second"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        sizes = {"shift": self.max_shift_steps + 1, "pitch": 128, "velocity": 2,
                 "tie": 1, "program": 128, "drum": 128}
        ranges, cursor = {}, NUM_SPECIAL_TOKENS
        for event_type in EVENT_TYPES:
            ranges[event_type] = EventRange(cursor, sizes[event_type])
            cursor += sizes[event_type]
        object.__setattr__(self, "_ranges", ranges)

    # ------------------------------------------------------------------ layout
    @property
    def vocab_size(self) -> int:
        """Number of native ids, specials included."""
        return self._ranges["drum"].first_id + self._ranges["drum"].num_values

    def event_range(self, event_type: str) -> EventRange:
        """The id range of one event type; ValueError for unknown types."""
        try:
            return self._ranges[event_type]
        except KeyError:
            raise ValueError(f"unknown MIDI event type {event_type!r}; known: {', '.join(EVENT_TYPES)}") from None

    # ------------------------------------------------------------ event <-> id
    def encode_event(self, event_type: str, value: int = 0) -> int:
        """Id of (event_type, value); ValueError when the value is outside the type's range."""
        event_range = self.event_range(event_type)
        if not 0 <= value < event_range.num_values:
            raise ValueError(f"{event_type} value {value} outside 0..{event_range.num_values - 1}")
        return event_range.first_id + int(value)

    def decode_id(self, token_id: int) -> Event:
        """Event of an id; specials decode to ('PAD'|'EOS'|'UNK', 0). ValueError out of range."""
        token_id = int(token_id)
        if 0 <= token_id < NUM_SPECIAL_TOKENS:
            return Event(SPECIAL_TOKEN_NAMES[token_id], 0)
        for event_type, event_range in self._ranges.items():
            if event_range.first_id <= token_id <= event_range.last_id:
                return Event(event_type, token_id - event_range.first_id)
        raise ValueError(f"MIDI token id {token_id} outside 0..{self.vocab_size - 1}")

    # -------------------------------------------------------- readable strings
    def id_to_string(self, token_id: int) -> str:
        """Readable name of an id: 'shift:12', 'pitch:60', 'tie', 'EOS', ..."""
        event = self.decode_id(token_id)
        if event.type in SPECIAL_TOKEN_NAMES or event.type in VALUELESS_TYPES:
            return event.type
        return f"{event.type}:{event.value}"

    def string_to_id(self, text: str) -> int:
        """Inverse of `id_to_string`; ValueError for anything it would not produce."""
        if text in SPECIAL_TOKEN_NAMES:
            return SPECIAL_TOKEN_NAMES.index(text)
        if text in VALUELESS_TYPES:
            return self.encode_event(text)
        event_type, sep, value_text = text.partition(":")
        if not sep or event_type in VALUELESS_TYPES or not value_text.isdigit():
            raise ValueError(f"not a MIDI token: {text!r}")
        return self.encode_event(event_type, int(value_text))

    def ids_to_strings(self, token_ids) -> list[str]:
        return [self.id_to_string(token_id) for token_id in token_ids]
