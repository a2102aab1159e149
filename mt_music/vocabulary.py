"""One token space for all four modalities (docs/design.md §3.5).

Every sequence position is a vector of K slots (K = number of RVQ codebooks).
Image and audio frames fill all K slots with their codes; LMX and MIDI tokens use
slot 0 and PAD elsewhere. One id space lets one embedding table and one masked
output projection serve every translation direction.

Layout (ids ascending):

    PAD                                   0, shared; loss ignore index
    LMX block      SOS EOS UNK <LMX tokens>
    MIDI block     SOS EOS UNK <shift.. pitch.. velocity.. tie program.. drum..>
    image block    K sub-blocks of: <codes 0..C-1> IMAGE_PAD SOS EOS
    audio block    K sub-blocks of: <codes 0..C-1> SOS EOS
    height tokens  1..max_rows (image outputs: a system's height in token rows)
    SEP            between image systems

The frame-level decision of an RVQ frame (code / SEP / height / EOS) is taken by
slot 0; `forced_slots` says what the other slots must then hold, so decoding does
not sample them.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterable, Sequence

import numpy as np

from mt_music.image import grids
from mt_music.lmx.vocabulary import LMX_TOKENS
from mt_music.midi import MidiEventCodec

PAD_ID = 0


class Modality(enum.IntEnum):
    """The four representations; the value indexes the logit mask."""

    LMX = 0
    MIDI = 1
    IMAGE = 2
    AUDIO = 3

    @classmethod
    def parse(cls, name: str | Modality) -> Modality:
        if isinstance(name, Modality):
            return name
        try:
            return cls[str(name).upper()]
        except KeyError:
            raise ValueError(
                f"unknown modality {name!r}; expected one of {[m.name.lower() for m in cls]}"
            ) from None

    @property
    def is_rvq(self) -> bool:
        """True for the codec modalities whose frames fill all K slots."""
        return self in (Modality.IMAGE, Modality.AUDIO)


@dataclasses.dataclass(frozen=True)
class VocabularyConfig:
    """Every size the layout depends on, in one place so gin can change it."""

    num_slots: int = 4
    image_codebook_size: int = 1024
    audio_codebook_size: int = 1024
    midi_max_shift_steps: int = 2000  # 20 s: a whole system in one window (AMT's 10 s windows use the first half)
    image_max_rows: int = 26
    image_max_cols: int = 150

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"VocabularyConfig.{field.name} must be a positive int, got {value!r}")

    @property
    def image_grid(self) -> grids.TokenGridConfig:
        return grids.TokenGridConfig(
            codebook_size=self.image_codebook_size,
            num_slots=self.num_slots,
            max_rows=self.image_max_rows,
            max_cols=self.image_max_cols,
        )

    @property
    def midi_codec(self) -> MidiEventCodec:
        return MidiEventCodec(max_shift_steps=self.midi_max_shift_steps)


@dataclasses.dataclass(frozen=True)
class _Block:
    """A contiguous id range [start, start + size)."""

    start: int
    size: int

    @property
    def stop(self) -> int:
        return self.start + self.size

    def __contains__(self, token_id: int) -> bool:
        return self.start <= token_id < self.stop


# Offsets inside the 1-D blocks and the RVQ sub-blocks.
_SOS, _EOS, _UNK = 0, 1, 2


class UnifiedVocabulary:
    """Maps native tokens of each modality to unified K-slot frames and back."""

    def __init__(self, config: VocabularyConfig = VocabularyConfig()):
        self.config = config
        self.num_slots = config.num_slots
        self._midi = config.midi_codec
        self._grid = config.image_grid
        self._lmx_index = {token: i for i, token in enumerate(LMX_TOKENS)}

        cursor = 1  # after PAD
        self.lmx_block = _Block(cursor, 3 + len(LMX_TOKENS))
        cursor = self.lmx_block.stop
        # The MIDI codec's native ids are PAD=0, EOS=1, UNK=2, events...: the block
        # holds SOS followed by native ids 1.. so native id n sits at start + n.
        self.midi_block = _Block(cursor, self._midi.vocab_size)
        cursor = self.midi_block.stop
        image_sub = config.image_codebook_size + 3  # codes, IMAGE_PAD, SOS, EOS
        self.image_blocks = tuple(_Block(cursor + k * image_sub, image_sub) for k in range(self.num_slots))
        cursor = self.image_blocks[-1].stop
        audio_sub = config.audio_codebook_size + 2  # codes, SOS, EOS
        self.audio_blocks = tuple(_Block(cursor + k * audio_sub, audio_sub) for k in range(self.num_slots))
        cursor = self.audio_blocks[-1].stop
        self.height_block = _Block(cursor, config.image_max_rows)
        self.sep_id = self.height_block.stop
        self.vocab_size = self.sep_id + 1

    # ------------------------------------------------------------------ ids

    def padded_vocab_size(self, multiple: int = 128) -> int:
        """Embedding rows rounded up so matrix shapes tile well on accelerators."""
        return -(-self.vocab_size // multiple) * multiple

    def _image_pad_id(self, slot: int) -> int:
        return self.image_blocks[slot].start + self.config.image_codebook_size

    def _image_sos_id(self, slot: int) -> int:
        return self._image_pad_id(slot) + 1

    def _image_eos_id(self, slot: int) -> int:
        return self._image_pad_id(slot) + 2

    def _audio_sos_id(self, slot: int) -> int:
        return self.audio_blocks[slot].start + self.config.audio_codebook_size

    def _audio_eos_id(self, slot: int) -> int:
        return self._audio_sos_id(slot) + 1

    def height_id(self, rows: int) -> int:
        if not 1 <= rows <= self.config.image_max_rows:
            raise ValueError(f"image height must be 1..{self.config.image_max_rows} token rows, got {rows}")
        return self.height_block.start + rows - 1

    def _one_d_frame(self, token_id: int) -> np.ndarray:
        frame = np.zeros(self.num_slots, np.int32)
        frame[0] = token_id
        return frame

    def _special_frame(self, modality: Modality | str, offset: int) -> np.ndarray:
        """The SOS (offset 0) or EOS (offset 1) frame of a modality."""
        modality = Modality.parse(modality)
        if modality is Modality.LMX:
            return self._one_d_frame(self.lmx_block.start + offset)
        if modality is Modality.MIDI:
            return self._one_d_frame(self.midi_block.start + offset)
        first = self._image_sos_id if modality is Modality.IMAGE else self._audio_sos_id
        return np.array([first(k) + offset for k in range(self.num_slots)], np.int32)

    def sos_frame(self, modality: Modality | str) -> np.ndarray:
        """Decoder start frame; it depends on the output modality."""
        return self._special_frame(modality, _SOS)

    def eos_frame(self, modality: Modality | str) -> np.ndarray:
        return self._special_frame(modality, _EOS)

    def eos_id(self, modality: Modality | str) -> int:
        """The slot-0 id that ends a sequence of this modality."""
        return int(self.eos_frame(modality)[0])

    # ------------------------------------------------------------ encoders

    def encode_lmx(self, tokens: Iterable[str], *, add_eos: bool = True) -> np.ndarray:
        """LMX token strings -> [T, K] frames; unknown tokens become LMX UNK."""
        unk = self.lmx_block.start + _UNK
        ids = [self.lmx_block.start + 3 + self._lmx_index[t] if t in self._lmx_index else unk for t in tokens]
        return self._one_d_frames(ids, Modality.LMX, add_eos)

    def encode_midi(self, native_ids: Iterable[int], *, add_eos: bool = True) -> np.ndarray:
        """MidiEventCodec ids -> [T, K] frames. Native PAD is dropped, a native EOS kept."""
        native = np.asarray(list(native_ids), np.int64)
        if native.size and (native.min() < 0 or native.max() >= self._midi.vocab_size):
            raise ValueError(f"MIDI ids must lie in [0, {self._midi.vocab_size}), got {native.min()}..{native.max()}")
        native = native[native != 0]
        if add_eos and native.size and native[-1] == 1:
            add_eos = False  # the codec already ended the window
        return self._one_d_frames(self.midi_block.start + native, Modality.MIDI, add_eos)

    def _one_d_frames(self, ids, modality: Modality, add_eos: bool) -> np.ndarray:
        ids = list(np.asarray(ids, np.int64).tolist())
        if add_eos:
            ids.append(self.eos_id(modality))
        frames = np.zeros((len(ids), self.num_slots), np.int32)
        frames[:, 0] = ids
        return frames

    def encode_image(self, native_frames: np.ndarray, *, add_eos: bool = False) -> np.ndarray:
        """Image-grid native frames [T, K] (codes, IMAGE_PAD, SEP, height) -> unified frames."""
        native = self._check_frames(native_frames, "image")
        grid = self._grid
        frames = np.zeros_like(native, dtype=np.int32)
        is_code = native < grid.codebook_size
        is_pad = native == grid.pad_code
        starts = np.array([b.start for b in self.image_blocks], np.int64)
        frames[is_code] = (native + starts[None, :])[is_code]
        frames[is_pad] = np.broadcast_to(starts + grid.codebook_size, native.shape)[is_pad]
        marker = native[:, 0]
        is_sep = marker == grid.sep_code
        is_height = (marker >= grid.height_code(1)) & (marker <= grid.height_code(grid.max_rows))
        special = is_sep | is_height
        bad = ~(is_code | is_pad)
        bad[special, 0] = False
        if special.any() and np.any(native[special, 1:] != grid.pad_code):
            raise ValueError("image SEP/height frames must hold IMAGE_PAD in slots 1..K-1")
        if bad.any():
            raise ValueError(f"image frames hold ids outside the native layout: {np.unique(native[bad])[:8]}")
        frames[special] = 0
        frames[is_sep, 0] = self.sep_id
        frames[is_height, 0] = self.height_block.start + marker[is_height] - grid.height_code(1)
        if add_eos:
            frames = np.concatenate([frames, self.eos_frame(Modality.IMAGE)[None]])
        return frames

    def encode_audio(self, codes: np.ndarray, *, add_eos: bool = False) -> np.ndarray:
        """Codec codes [T, K] in 0..C-1 -> unified frames."""
        codes = self._check_frames(codes, "audio")
        size = self.config.audio_codebook_size
        if codes.size and (codes.min() < 0 or codes.max() >= size):
            raise ValueError(f"audio codes must lie in [0, {size}), got {codes.min()}..{codes.max()}")
        starts = np.array([b.start for b in self.audio_blocks], np.int64)
        frames = (codes + starts[None, :]).astype(np.int32)
        if add_eos:
            frames = np.concatenate([frames, self.eos_frame(Modality.AUDIO)[None]])
        return frames

    def _check_frames(self, frames, name: str) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != self.num_slots:
            raise ValueError(f"{name} frames must have shape [T, {self.num_slots}], got {frames.shape}")
        if not np.issubdtype(frames.dtype, np.integer):
            raise ValueError(f"{name} frames must be integers, got {frames.dtype}")
        return frames.astype(np.int64)

    # ------------------------------------------------------------ decoders
    # Decoders read model output: they never raise on ids of another modality;
    # they stop at EOS and skip (and count) what does not belong.

    def decode_lmx(self, frames: np.ndarray) -> tuple[list[str], int]:
        """Unified frames -> (LMX tokens, number of skipped foreign ids)."""
        tokens, skipped = [], 0
        for token_id in self._slot0_until_eos(frames, Modality.LMX):
            offset = token_id - self.lmx_block.start - 3
            if 0 <= offset < len(LMX_TOKENS):
                tokens.append(LMX_TOKENS[offset])
            else:
                skipped += 1
        return tokens, skipped

    def decode_midi(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """Unified frames -> (MidiEventCodec ids without EOS, skipped ids)."""
        native, skipped = [], 0
        for token_id in self._slot0_until_eos(frames, Modality.MIDI):
            offset = token_id - self.midi_block.start
            if 1 <= offset < self._midi.vocab_size:
                native.append(offset)
            else:
                skipped += 1
        return np.asarray(native, np.int32), skipped

    def decode_image(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """Unified frames -> (image-grid native frames, repaired slots)."""
        frames = self._frames_until_eos(frames, Modality.IMAGE)
        grid = self._grid
        native = np.full(frames.shape, grid.pad_code, np.int64)
        repaired = 0
        for t, frame in enumerate(frames):
            head = int(frame[0])
            if head == self.sep_id:
                native[t, 0] = grid.sep_code
                continue
            if head in self.height_block:
                native[t, 0] = grid.height_code(head - self.height_block.start + 1)
                continue
            for k, token_id in enumerate(frame):
                offset = int(token_id) - self.image_blocks[k].start
                if 0 <= offset <= grid.codebook_size:  # a code or IMAGE_PAD
                    native[t, k] = offset
                else:
                    repaired += 1
        return native.astype(np.int32), repaired

    def decode_audio(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """Unified frames -> (codes [T, K], repaired slots); a foreign id becomes code 0."""
        frames = self._frames_until_eos(frames, Modality.AUDIO)
        starts = np.array([b.start for b in self.audio_blocks], np.int64)
        codes = frames.astype(np.int64) - starts[None, :]
        bad = (codes < 0) | (codes >= self.config.audio_codebook_size)
        codes[bad] = 0
        return codes.astype(np.int32), int(bad.sum())

    def _slot0_until_eos(self, frames, modality: Modality) -> list[int]:
        return [int(i) for i in self._frames_until_eos(frames, modality)[:, 0] if i != PAD_ID]

    def _frames_until_eos(self, frames, modality: Modality) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim == 1:  # a bare slot-0 stream
            frames = np.stack([frames] + [np.zeros_like(frames)] * (self.num_slots - 1), axis=1)
        sos = self.sos_frame(modality)[0]
        if len(frames) and frames[0, 0] == sos:
            frames = frames[1:]
        ends = np.flatnonzero(frames[:, 0] == self.eos_id(modality))
        return frames[: ends[0]] if ends.size else frames

    # ----------------------------------------------------- decoding support

    def modality_of(self, token_id: int) -> Modality | None:
        """The modality an id belongs to (SEP/height count as image); None for PAD."""
        if token_id in self.lmx_block:
            return Modality.LMX
        if token_id in self.midi_block:
            return Modality.MIDI
        if any(token_id in b for b in self.image_blocks) or token_id in self.height_block or token_id == self.sep_id:
            return Modality.IMAGE
        if any(token_id in b for b in self.audio_blocks):
            return Modality.AUDIO
        return None

    @functools.cached_property
    def _logit_mask(self) -> np.ndarray:
        mask = np.zeros((len(Modality), self.num_slots, self.vocab_size), bool)
        for modality, block in ((Modality.LMX, self.lmx_block), (Modality.MIDI, self.midi_block)):
            mask[modality, 0, block.start + _EOS : block.stop] = True
            mask[modality, 0, block.start + _UNK] = False  # never predict UNK
            mask[modality, 1:, PAD_ID] = True  # unused slots are PAD
        codes = self.config.image_codebook_size
        for k, block in enumerate(self.image_blocks):
            mask[Modality.IMAGE, k, block.start : block.start + codes] = True
            mask[Modality.IMAGE, k, self._image_eos_id(k)] = True
        mask[Modality.IMAGE, 0, self.height_block.start : self.height_block.stop] = True
        mask[Modality.IMAGE, 0, self.sep_id] = True
        codes = self.config.audio_codebook_size
        for k, block in enumerate(self.audio_blocks):
            mask[Modality.AUDIO, k, block.start : block.start + codes] = True
            mask[Modality.AUDIO, k, self._audio_eos_id(k)] = True
        mask.setflags(write=False)
        return mask

    def logit_mask(self) -> np.ndarray:
        """bool [modality, slot, vocab]: the ids an output of that modality may emit per slot.

        Output images never emit IMAGE_PAD (pad codes are dropped, columns wrap by
        the height token); SOS and UNK are never emitted.
        """
        return self._logit_mask

    def forced_slots(self, modality: Modality | str, slot0_id: int) -> np.ndarray | None:
        """Ids of slots 1..K-1 implied by slot 0, or None if they must be predicted.

        1-D tokens, SEP and height frames fill the other slots with PAD; an EOS in
        slot 0 ends the frame with every slot's EOS.
        """
        modality = Modality.parse(modality)
        if not modality.is_rvq:
            return np.zeros(self.num_slots - 1, np.int32)
        if slot0_id == self.eos_id(modality):
            return self.eos_frame(modality)[1:]
        if modality is Modality.IMAGE and (slot0_id == self.sep_id or slot0_id in self.height_block):
            return np.zeros(self.num_slots - 1, np.int32)
        return None

    # ------------------------------------------------------------ display

    def id_to_string(self, token_id: int) -> str:
        """A readable name for any id, e.g. 'lmx:clef:G2', 'midi:shift:12', 'image1:513'."""
        token_id = int(token_id)
        if token_id == PAD_ID:
            return "PAD"
        if token_id == self.sep_id:
            return "SEP"
        if token_id in self.height_block:
            return f"height:{token_id - self.height_block.start + 1}"
        for name, block in (("lmx", self.lmx_block), ("midi", self.midi_block)):
            if token_id in block:
                offset = token_id - block.start
                if offset == _SOS:
                    return f"{name}:SOS"
                if name == "lmx":
                    return f"lmx:{('SOS', 'EOS', 'UNK')[offset] if offset < 3 else LMX_TOKENS[offset - 3]}"
                return f"midi:{self._midi.id_to_string(offset)}"
        for name, blocks, codes in (
            ("image", self.image_blocks, self.config.image_codebook_size),
            ("audio", self.audio_blocks, self.config.audio_codebook_size),
        ):
            for k, block in enumerate(blocks):
                if token_id in block:
                    offset = token_id - block.start
                    if offset < codes:
                        return f"{name}{k}:{offset}"
                    specials = ("PAD", "SOS", "EOS") if name == "image" else ("SOS", "EOS")
                    return f"{name}{k}:{specials[offset - codes]}"
        raise ValueError(f"id {token_id} is outside the vocabulary (size {self.vocab_size})")

    def frames_to_strings(self, frames: Sequence[Sequence[int]]) -> list[str]:
        """One readable string per frame: slot names joined with '|', PAD slots left out."""
        return ["|".join(self.id_to_string(i) for i in frame if i != PAD_ID) or "PAD" for frame in np.asarray(frames)]
