"""The OLiMPiC LMX vocabulary: 224 tokens, core (207) + extended flavour (17).

The order of `LMX_TOKENS` is the order of the OLiMPiC reference vocabulary
(Mayer et al., ICDAR 2024): `measure`, attribute tokens (key, time, clef), note
prefix tokens, note root tokens, note suffix tokens, extended-flavour tokens
last. Token ids in the unified vocabulary are derived from this order, so it
must never change. The grouping into prefix / root / suffix is what the
delinearizer parses by: every note, backup, forward or attribute is one *root*
token with optional *prefix* tokens before it and *suffix* tokens after it.
"""

from fractions import Fraction

MEASURE_TOKEN = "measure"

# --- attributes -------------------------------------------------------------
KEY_TOKENS: tuple[str, ...] = tuple(f"key:fifths:{fifths}" for fifths in range(-7, 8))
TIME_TOKEN = "time"
BEATS_TOKENS: tuple[str, ...] = tuple(f"beats:{beats}" for beats in range(1, 17))
BEAT_TYPE_TOKENS: tuple[str, ...] = ("beat-type:2", "beat-type:4", "beat-type:8", "beat-type:16")
CLEF_TOKENS: tuple[str, ...] = tuple(
    f"clef:{sign}{line}" for sign in ("G", "C", "F") for line in range(1, 6)
)

# --- note prefixes ----------------------------------------------------------
PRINT_OBJECT_NO_TOKEN = "print-object:no"
GRACE_TOKEN = "grace"
GRACE_SLASH_TOKEN = "grace:slash"
CHORD_TOKEN = "chord"
REST_TOKEN = "rest"
FORWARD_TOKEN = "forward"
BACKUP_TOKEN = "backup"
STEPS = "CDEFGAB"
# Ascending diatonic order (C0 lowest): the linearizer sorts chords by this index.
PITCH_TOKENS: tuple[str, ...] = tuple(
    f"{step}{octave}" for octave in range(10) for step in STEPS
)
VOICE_TOKENS: tuple[str, ...] = tuple(f"voice:{voice}" for voice in range(1, 13))

# --- note roots -------------------------------------------------------------
# Shortest to longest; each type is twice the previous one.
NOTE_TYPE_TOKENS: tuple[str, ...] = (
    "1024th", "512th", "256th", "128th", "64th", "32nd", "16th", "eighth",
    "quarter", "half", "whole", "breve", "long", "maxima",
)
MEASURE_REST_TOKEN = "rest:measure"

# --- note suffixes ----------------------------------------------------------
# "{actual}in{normal}" as written in <time-modification>, in OLiMPiC's order.
TIME_MODIFICATION_TOKENS: tuple[str, ...] = (
    "3in2", "6in4", "2in1", "2in3", "5in4", "7in8", "7in6", "9in8", "4in3",
    "7in4", "4in6", "13in8", "22in16", "10in4", "12in8", "9in4", "10in8",
    "18in4", "16in8", "15in8", "5in3", "11in8", "11in12", "5in2", "8in2",
    "4in2", "7in1", "35in16", "9in2",
)
DOT_TOKEN = "dot"
ACCIDENTAL_TOKENS: tuple[str, ...] = (
    "sharp", "flat", "natural", "double-sharp", "flat-flat", "natural-sharp", "natural-flat",
)
STEM_TOKENS: tuple[str, ...] = ("stem:up", "stem:down", "stem:none")
STAFF_TOKENS: tuple[str, ...] = ("staff:1", "staff:2", "staff:3")
BEAM_TOKENS: tuple[str, ...] = (
    "beam:begin", "beam:end", "beam:forward-hook", "beam:backward-hook",
)
TIED_TOKENS: tuple[str, ...] = ("tied:start", "tied:stop")
TUPLET_TOKENS: tuple[str, ...] = ("tuplet:start", "tuplet:stop")

# --- extended flavour (note suffixes too) ------------------------------------
SLUR_TOKENS: tuple[str, ...] = ("slur:start", "slur:stop")
FERMATA_TOKEN = "fermata"
ARPEGGIATE_TOKEN = "arpeggiate"
ARTICULATION_TOKENS: tuple[str, ...] = ("staccato", "accent", "strong-accent", "tenuto")
TRILL_MARK_TOKEN = "trill-mark"
TREMOLO_TYPE_TOKENS: tuple[str, ...] = (
    "tremolo:single", "tremolo:start", "tremolo:stop", "tremolo:unmeasured",
)
TREMOLO_MARKS_TOKENS: tuple[str, ...] = ("tremolo:1", "tremolo:2", "tremolo:3", "tremolo:4")

EXTENDED_TOKENS: tuple[str, ...] = (
    *SLUR_TOKENS, FERMATA_TOKEN, ARPEGGIATE_TOKEN, "staccato", "accent",
    "strong-accent", "tenuto", TRILL_MARK_TOKEN, *TREMOLO_TYPE_TOKENS, *TREMOLO_MARKS_TOKENS,
)

# --- grammatical roles --------------------------------------------------------
ATTRIBUTE_ROOT_TOKENS: tuple[str, ...] = (*KEY_TOKENS, TIME_TOKEN, *CLEF_TOKENS)
NOTE_PREFIX_TOKENS: tuple[str, ...] = (
    PRINT_OBJECT_NO_TOKEN, GRACE_TOKEN, GRACE_SLASH_TOKEN, CHORD_TOKEN,
    *PITCH_TOKENS, REST_TOKEN, FORWARD_TOKEN, BACKUP_TOKEN, *VOICE_TOKENS,
)
NOTE_ROOT_TOKENS: tuple[str, ...] = (*NOTE_TYPE_TOKENS, MEASURE_REST_TOKEN)
NOTE_SUFFIX_TOKENS: tuple[str, ...] = (
    *TIME_MODIFICATION_TOKENS, DOT_TOKEN, *ACCIDENTAL_TOKENS, *STEM_TOKENS,
    *STAFF_TOKENS, *BEAM_TOKENS, *TIED_TOKENS, *TUPLET_TOKENS, *EXTENDED_TOKENS,
)

LMX_TOKENS: tuple[str, ...] = (
    MEASURE_TOKEN,
    *KEY_TOKENS,
    TIME_TOKEN, *BEATS_TOKENS, *BEAT_TYPE_TOKENS,
    *CLEF_TOKENS,
    *NOTE_PREFIX_TOKENS,
    *NOTE_ROOT_TOKENS,
    *NOTE_SUFFIX_TOKENS,
)
"""All 224 OLiMPiC tokens in OLiMPiC's order (extended-flavour tokens last)."""

EXTENDED_TOKEN_SET: frozenset[str] = frozenset(EXTENDED_TOKENS)
CORE_TOKENS: tuple[str, ...] = tuple(t for t in LMX_TOKENS if t not in EXTENDED_TOKEN_SET)
"""The 207 core-flavour tokens (LMX_TOKENS minus the extended ones, same order)."""

LMX_TOKEN_SET: frozenset[str] = frozenset(LMX_TOKENS)
FLAVORS: tuple[str, ...] = ("core", "extended")


def flavor_tokens(flavor: str) -> frozenset[str]:
    """The tokens that a sequence of the given flavour may contain."""
    if flavor == "core":
        return frozenset(CORE_TOKENS)
    if flavor == "extended":
        return LMX_TOKEN_SET
    raise ValueError(f"unknown LMX flavor {flavor!r}; expected one of {FLAVORS}")


# --- musical meaning shared by the linearizer and the delinearizer -------------
NOTE_TYPE_QUARTERS: dict[str, Fraction] = {
    note_type: Fraction(2) ** (index - NOTE_TYPE_TOKENS.index("quarter"))
    for index, note_type in enumerate(NOTE_TYPE_TOKENS)
}
"""Length of each note type in quarter notes (quarter = 1, 1024th = 1/256)."""

ACCIDENTAL_ALTER: dict[str, int] = {
    "sharp": 1, "flat": -1, "natural": 0, "double-sharp": 2, "flat-flat": -2,
    "natural-sharp": 1, "natural-flat": -1,
}
"""Semitone alteration that each printed accidental establishes."""

SHARP_ORDER = "FCGDAEB"
"""Order in which a key signature adds sharps (flats: the reverse)."""


def key_signature_alter(fifths: int, step: str) -> int:
    """Alteration that a key signature of `fifths` gives to a diatonic step."""
    if fifths > 0 and step in SHARP_ORDER[:fifths]:
        return 1
    if fifths < 0 and step in SHARP_ORDER[::-1][:-fifths]:
        return -1
    return 0


def decompose_duration(quarters: Fraction) -> tuple[list[str], Fraction]:
    """Greedy split of a backup/forward length into note types, longest first."""
    note_types: list[str] = []
    remainder = quarters
    for note_type in reversed(NOTE_TYPE_TOKENS):
        while remainder >= NOTE_TYPE_QUARTERS[note_type]:
            note_types.append(note_type)
            remainder -= NOTE_TYPE_QUARTERS[note_type]
    return note_types, remainder


assert len(LMX_TOKENS) == 224 and len(LMX_TOKEN_SET) == 224
assert len(CORE_TOKENS) == 207 and len(EXTENDED_TOKENS) == 17
