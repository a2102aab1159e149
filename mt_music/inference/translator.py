"""`Translator(export_dir)`: every direction of an exported model on whole inputs of any length.

    translator = Translator("exports/corpus_cpu")
    score = translator.omr("page.png")             # image → LMX: systems found, decoded, joined
    performance = translator.amt("take.flac")      # audio → MIDI: 10 s windows, stitched
    sound = translator.synthesize("piece.mid")     # MIDI → audio: 18 s windows, 2 s fed back as prefix
    output = translator.translate("image2audio", "page.png")   # any direction by name

Sources become units (`inputs`): systems of images and MusicXML, windows of audio and MIDI. Units
are decoded in batches (`batch_size`), shared across files by `translate_many`; MIDI→audio windows each
continue the previous one's last `overlap_seconds` of codes (a decoder prefix), so the sound has no
seams, and window i of several files is decoded in one batch.
Outputs are joined per file (`outputs`): LMX systems into one MusicXML, MIDI windows stitched by one
event decoder, audio windows concatenated, image systems one PNG each. Decoding defaults are the
export's (the published ones); every setting can be overridden.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from mt_music.audio.io import FRAMES_PER_SECOND, SAMPLE_RATE
from mt_music.data.directions import Direction
from mt_music.data.output_frames import postprocess
from mt_music.errors import UserError
from mt_music.inference import exported, inputs, outputs
from mt_music.midi.codec import EOS_ID
from mt_music.midi.windows import EncodedWindow, decode_performance
from mt_music.vocabulary import Modality

LENGTH_BUCKET = 64  # encoder inputs are padded to a multiple: few compilations over many lengths
GROUP_BATCHES = 4  # translate_many decodes the units of about this many full batches of sources at once


class Translated(NamedTuple):
    """One source of `Translator.translate_many`: its output, or the error that kept it from decoding."""

    source: object
    output: object | None
    units: list
    error: UserError | None


@dataclasses.dataclass
class DecodeSettings:
    batch_size: int = 8
    seed: int = 0
    temperature: float | None = None  # None: the export's default for the output modality
    top_k: int = 0
    top_p: float | None = None
    max_length: int | None = None  # decoder frames; None: what the model's positions allow
    window_seconds: float = 10.0  # audio / MIDI source windows (AMT's published 10 s)
    synthesis_window_seconds: float = 18.0  # MIDI → audio windows ...
    overlap_seconds: float = 2.0  # ... each continuing the previous one's last 2 s

    def check(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if self.temperature is not None and self.temperature < 0:
            raise UserError(f"--temperature must be ≥ 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise UserError(f"--top-k must be ≥ 0, got {self.top_k}")
        if self.max_length is not None and self.max_length < 2:
            raise UserError(f"--max-length must be ≥ 2, got {self.max_length}")
        if self.window_seconds <= 0 or self.synthesis_window_seconds <= 0:
            raise UserError("--window-seconds and --synthesis-window-seconds must be > 0")
        if not 0 <= self.overlap_seconds < self.synthesis_window_seconds:
            raise UserError(f"--overlap-seconds must be in [0, {self.synthesis_window_seconds}), "
                            f"got {self.overlap_seconds}")


class Translator:
    def __init__(self, export_dir: str | Path | exported.ExportedModel, settings: DecodeSettings | None = None):
        self.settings = settings or DecodeSettings()
        self.settings.check()
        self.exported = export_dir if isinstance(export_dir, exported.ExportedModel) else exported.load(export_dir)
        self.model, self.params = self.exported.model, self.exported.params
        self.vocabulary = self.model.vocabulary
        self._rng = jax.random.key(self.settings.seed)

    # ------------------------------------------------------------ public API

    def omr(self, image) -> outputs.Score:
        return self.translate("image2lmx", image)

    def amt(self, audio) -> outputs.Performance:
        return self.translate("audio2midi", audio)

    def synthesize(self, midi) -> outputs.Sound:
        return self.translate("midi2audio", midi)

    def engrave(self, lmx) -> outputs.Engraving:
        return self.translate("lmx2image", lmx)

    def image_to_audio(self, image) -> outputs.Sound:
        return self.translate("image2audio", image)

    def audio_to_image(self, audio) -> outputs.Engraving:
        return self.translate("audio2image", audio)

    def translate(self, direction: str | Direction, source):
        """One file (a path) or an in-memory source (image array, waveform, notes, LMX tokens) → its output."""
        return self.translate_with_units(direction, source)[0]

    def translate_with_units(self, direction: str | Direction, source) -> tuple[object, list[inputs.SourceUnit]]:
        """(output, the source units it was decoded from: systems with their crops, windows)."""
        [translated] = self.translate_many(direction, [source])
        if translated.error is not None:
            raise translated.error
        return translated.output, translated.units

    def translate_many(self, direction: str | Direction, sources: Sequence,
                       progress: Callable[[int], None] | None = None) -> Iterator[Translated]:
        """Each source's `Translated`, in order; the units of several sources share batches.

        Sources are taken in groups of about `GROUP_BATCHES` batches of units: the systems and windows of
        many short files fill one batch instead of one part-empty batch per file. MIDI→audio windows of up to
        `batch_size` files advance together, window i of each in one batch, each continuing its own file's
        window i-1. A source that cannot be read is yielded with its error; the others still decode.
        """
        direction = Direction.parse(direction) if isinstance(direction, str) else direction
        synthesis = direction.source is Modality.MIDI and direction.target is Modality.AUDIO
        group, group_units = [], 0
        for number, source in enumerate(sources):
            try:
                units = self.units(direction, source)
            except UserError as error:
                group.append(Translated(source, None, [], error))
            else:
                group.append(Translated(source, None, units, None))
                group_units += 1 if synthesis else len(units)
            full = group_units >= self.settings.batch_size * (1 if synthesis else GROUP_BATCHES)
            if full or number == len(sources) - 1:
                yield from self._decode_group(direction, group, progress)
                group, group_units = [], 0

    def _decode_group(self, direction: Direction, group: list[Translated], progress) -> list[Translated]:
        readable = [item for item in group if item.error is None]
        if direction.source is Modality.MIDI and direction.target is Modality.AUDIO:
            sounds = iter(self._synthesize_many([item.units for item in readable], progress))
            return [item if item.error else item._replace(output=outputs.Sound(next(sounds))) for item in group]
        frames = iter(self.decode_units([u for item in readable for u in item.units], direction.target, progress))
        joined = []
        for item in group:
            if item.error is None:
                item = item._replace(output=self._join(direction.target, item.units,
                                                       [next(frames) for _ in item.units]))
            joined.append(item)
        return joined

    # ------------------------------------------------------------ sources

    def units(self, direction: Direction, source) -> list[inputs.SourceUnit]:
        vocabulary, modality = self.vocabulary, direction.source
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise UserError(f"{path}: no such file")
            inputs.check_suffix(path, modality)
            source = {Modality.IMAGE: lambda: path, Modality.AUDIO: lambda: inputs.load_waveform(path),
                      Modality.MIDI: lambda: inputs.load_notes(path), Modality.LMX: lambda: inputs.lmx_systems(path)
                      }[modality]()
        if modality is Modality.IMAGE:
            return inputs.image_units(source, vocabulary, self.exported.codec("image"))
        if modality is Modality.AUDIO:
            return inputs.audio_units(np.asarray(source, np.float32), vocabulary, self.exported.codec("audio"),
                                      self.settings.window_seconds)
        if modality is Modality.MIDI:
            if direction.target is Modality.AUDIO:
                window = self.settings.synthesis_window_seconds
                return inputs.midi_units(list(source), vocabulary, window, window - self.settings.overlap_seconds)
            return inputs.midi_units(list(source), vocabulary, self.settings.window_seconds)
        systems = [source] if source and isinstance(source[0], str) else list(source)
        return inputs.lmx_units(systems, vocabulary)

    # ------------------------------------------------------------ decoding

    def max_length(self, target: Modality, unit: inputs.SourceUnit | None = None) -> int:
        """Decoder frames: the setting, else what the target's position range holds (and, for audio,
        what the unit's window lasts)."""
        if self.settings.max_length:
            return self.settings.max_length
        config = self.model.module.config
        if target is Modality.AUDIO:
            limit = config.max_audio_frames + 1
            if unit is not None and unit.seconds:
                limit = min(limit, math.ceil(unit.seconds * FRAMES_PER_SECOND) + 1)
            return limit
        if target is Modality.IMAGE:
            return min(config.max_image_columns * self.vocabulary.config.image_max_rows + 2, 3902)
        return config.max_lmx_positions if target is Modality.LMX else config.max_midi_positions

    def _sampling(self, target: Modality) -> tuple[float, float]:
        defaults = self.exported.sampling[target]
        temperature = defaults["temperature"] if self.settings.temperature is None else self.settings.temperature
        top_p = defaults["top_p"] if self.settings.top_p is None else self.settings.top_p
        return float(temperature), float(top_p)

    def _batch(self, units: Sequence[inputs.SourceUnit], target: Modality, size: int) -> dict[str, np.ndarray]:
        k = self.vocabulary.num_slots
        length = LENGTH_BUCKET * math.ceil(max(len(u.frames) for u in units) / LENGTH_BUCKET)
        batch = {"encoder_input_tokens": np.zeros((size, length, k), np.int32),
                 "encoder_positions": np.zeros((size, length, 2), np.int32),
                 "encoder_modality": np.full((size,), units[0].modality, np.int32),
                 "decoder_modality": np.full((size,), target, np.int32)}
        for row in range(size):
            unit = units[min(row, len(units) - 1)]  # a short last batch repeats its last unit
            batch["encoder_input_tokens"][row, : len(unit.frames)] = unit.frames
            batch["encoder_positions"][row, : len(unit.positions)] = unit.positions
        return batch

    def predict(self, batch: dict[str, np.ndarray], target: Modality, max_length: int) -> np.ndarray:
        """Output frames [B, L, K] of one batch with the settings' sampling (greedy when temperature is 0)."""
        temperature, top_p = self._sampling(target)
        self._rng, rng = jax.random.split(self._rng)
        return np.asarray(self.model.predict_batch(self.params, batch, rng, max_decode_length=max_length,
                                                   temperature=temperature, top_k=self.settings.top_k, top_p=top_p))

    def decode_units(self, units: Sequence[inputs.SourceUnit], target: Modality,
                     progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        results = []
        size = self.settings.batch_size
        for start in range(0, len(units), size):
            chunk = units[start: start + size]
            max_length = max(self.max_length(target, unit) for unit in chunk)
            frames = self.predict(self._batch(chunk, target, min(size, len(units))), target, max_length)
            results += list(frames[: len(chunk)])
            if progress:
                progress(len(chunk))
        return results

    def _synthesize_many(self, files: list[list[inputs.SourceUnit]], progress=None) -> list[np.ndarray]:
        """Each file's MIDI windows decoded in order; each window after the first starts from its file's previous
        window's last `overlap_seconds` of codes (decoder prefix) and contributes what follows them. Window i of
        every file that has one is decoded in the same batch."""
        codec = self.exported.codec("audio")
        hop = round((self.settings.synthesis_window_seconds - self.settings.overlap_seconds) * FRAMES_PER_SECOND)
        kept, previous = [[] for _ in files], [None] * len(files)
        for window in range(max((len(units) for units in files), default=0)):
            rows = [f for f, units in enumerate(files) if window < len(units)]
            for start in range(0, len(rows), self.settings.batch_size):
                chunk = rows[start: start + self.settings.batch_size]
                units = [files[f][window] for f in chunk]
                size = min(self.settings.batch_size, len(files))  # one batch shape while files run out
                batch = self._batch(units, Modality.AUDIO, size)
                empty = np.zeros((0, self.vocabulary.num_slots), int)
                prefixes = [empty if previous[f] is None else previous[f][hop:] for f in chunk]
                if max(len(p) for p in prefixes):
                    prefixes += [prefixes[-1]] * (size - len(prefixes))  # as _batch repeats the last unit
                    batch["decoder_prefix_tokens"] = self._prefix_tokens(prefixes)
                limits = [self.max_length(Modality.AUDIO, unit) for unit in units]
                frames = self.predict(batch, Modality.AUDIO, max(limits))
                for row, (f, limit) in enumerate(zip(chunk, limits)):
                    codes = postprocess(frames[row, :limit], modality=Modality.AUDIO,
                                        vocabulary=self.vocabulary)["codes"]
                    kept[f].append(codes if window == len(files[f]) - 1 else codes[:hop])
                    previous[f] = codes
                if progress:
                    progress(len(chunk))
        return [self._waveform(codec, pieces, units) for pieces, units in zip(kept, files)]

    def _prefix_tokens(self, prefixes: list[np.ndarray]) -> np.ndarray:
        """[B, P, K] decoder prefixes of several lengths (a PAD frame ends a shorter one)."""
        k = self.vocabulary.num_slots
        tokens = np.zeros((len(prefixes), max(len(p) for p in prefixes), k), np.int32)
        for row, codes in enumerate(prefixes):
            if len(codes):
                tokens[row, : len(codes)] = self.vocabulary.encode_audio(codes)
        return tokens

    @staticmethod
    def _waveform(codec, pieces: list[np.ndarray], units: list[inputs.SourceUnit]) -> np.ndarray:
        pieces = [c for c in pieces if len(c)]
        waveform = codec.decode_audio(np.concatenate(pieces)) if pieces else np.zeros(0, np.float32)
        # as long as the MIDI: silence after an early EOS, nothing past its last note's end
        length = round(max(unit.start_seconds + unit.seconds for unit in units) * SAMPLE_RATE)
        return np.pad(waveform, (0, max(0, length - len(waveform))))[:length]

    # ------------------------------------------------------------ outputs

    def _join(self, target: Modality, units: list[inputs.SourceUnit], frames: list[np.ndarray]):
        processed = [postprocess(f, modality=target, vocabulary=self.vocabulary,
                                 example={"window_start": unit.start_seconds}) for f, unit in zip(frames, units)]
        if target is Modality.LMX:
            return outputs.Score.from_systems([p["lmx"].split() for p in processed])
        if target is Modality.MIDI:
            codec = self.vocabulary.config.midi_codec
            longest = codec.max_shift_steps / codec.steps_per_second
            windows = [EncodedWindow(u.start_seconds, u.start_seconds + (u.seconds or longest),
                                     [*p["midi_ids"], EOS_ID]) for u, p in zip(units, processed)]
            return outputs.Performance(decode_performance(windows, codec)[0])
        if target is Modality.AUDIO:
            codec = self.exported.codec("audio")
            pieces = [codec.decode_audio(p["codes"]) for p in processed if len(p["codes"])]
            return outputs.Sound(np.concatenate(pieces) if pieces else np.zeros(0, np.float32))
        return outputs.Engraving([image for p in processed for image in self._images(p["grids"])])

    def _images(self, system_grids) -> list[np.ndarray]:
        from mt_music.image import pixels

        codec = self.exported.codec("image")
        drawn = [outputs.grid_pixels(codec, grid) for grid in system_grids]
        return [pixels.from_model_range(image) for image in drawn if image is not None]
