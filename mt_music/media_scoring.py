"""Image and audio outputs scored as what they are: pixels and sound, through the codecs that made them.

    audio  predicted codes → waveform (the audio codec) → notes (basic-pitch) → onset F1 at 50 / 100 /
           200 ms against the example's reference notes; for directions whose tempo is free
           (image→audio, LMX→audio) after DTW onto the reference's time axis (`dtw_` keys). Reference
           row: the same for the *target* codes decoded (`codec_` keys: the codec round trip, the
           published tables' reconstruction upper bound). FAD (fadtk's definition, `fad_<embedding>`) of
           the decoded outputs against the decoded targets, over the offline log-mel embedding unless
           another `fad.Embedding` is given.
    image  predicted codes → pixels (the image codec) against the decoded target codes: ink recall /
           precision and pixel error (both padded white to a common size).
    peers  audio→MIDI: the peer transcribers that run here (basic-pitch; transkun is not installed
           by the set-up — its wheel needs PyTorch) on each window's own waveform (`window_audio`:
           the corpus audio, not its codes), notes in piece time (`peer_notes`), stitched and scored
           per piece like the model (`scoring.peer_scores`, keys `peer_basic_pitch_*`).
    samples a few decoded outputs and targets per task (`samples`) for TensorBoard / samples/.
Means over examples. Without a codec (or basic-pitch) the modality's media metrics are left out,
with a log line saying why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from absl import logging

from mt_music.audio.io import SAMPLE_RATE
from mt_music.codecs import evaluation as codec_evaluation
from mt_music.codecs import tokenizer
from mt_music.data.directions import Direction
from mt_music.errors import UserError
from mt_music.evaluation.alignment import aligned_note_scores
from mt_music.evaluation.fad import Embedding, LogMelEmbedding, frechet_audio_distance
from mt_music.evaluation.note_metrics import note_scores
from mt_music.inference.outputs import grid_pixels
from mt_music.midi.notes import Note
from mt_music.vocabulary import Modality

TEMPO_FREE_SOURCES = (Modality.IMAGE, Modality.LMX)


@dataclasses.dataclass
class MediaScorer:
    image_codec: tokenizer.TrainedCodec | None = None
    audio_codec: tokenizer.TrainedCodec | None = None
    transcriber: object | None = None
    embedding: Embedding = dataclasses.field(default_factory=LogMelEmbedding)  # FAD's; any `fad.Embedding`

    @classmethod
    def load(cls, image_codec: str | None, audio_codec: str | None, transcribe: bool = True) -> MediaScorer:
        codecs = {}
        for kind, path in (("image", image_codec), ("audio", audio_codec)):
            if path:
                try:
                    codecs[kind] = tokenizer.load_codec(path)
                except (FileNotFoundError, ValueError) as error:
                    raise UserError(f"evaluate.{kind}_codec: {error}") from error
                if codecs[kind].kind != kind:
                    raise UserError(f"evaluate.{kind}_codec: {path} holds an {codecs[kind].kind} codec")
        transcriber = None
        if transcribe:
            if codec_evaluation.basic_pitch_available():
                transcriber = codec_evaluation.default_transcriber()
            else:
                logging.warning("audio outputs are not transcribed and AMT has no peer rows: %s",
                                codec_evaluation.BASIC_PITCH_INSTALL)
        return cls(codecs.get("image"), codecs.get("audio"), transcriber)

    @property
    def peers(self) -> dict[str, object]:
        """name → transcriber of the AMT peers that run here."""
        return {"basic_pitch": self.transcriber} if self.transcriber is not None else {}

    def peer_notes(self, example: Mapping) -> dict[str, list[Note]]:
        """Each peer's notes on an audio→MIDI window's own waveform, in piece time (window start added)."""
        waveform = np.asarray(example.get("window_audio", np.zeros(0)), np.float32)
        if not len(waveform):
            return {}
        offset = float(example.get("window_start", 0.0))
        return {name: [dataclasses.replace(n, start=n.start + offset, end=n.end + offset)
                       for n in transcriber(waveform, SAMPLE_RATE)] for name, transcriber in self.peers.items()}

    def samples(self, direction: Direction, targets: Sequence[Mapping], predictions: Sequence[Mapping],
                count: int = 2) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """({name: [1, H, W, 1] image}, {name: [1, T, 1] audio}) of the first `count` outputs and targets."""
        images, audios = {}, {}
        for index, (target, prediction) in enumerate(list(zip(targets, predictions))[:count]):
            for side, output in (("predicted", prediction), ("target", target)):
                name = f"{direction.name}/{side}_{index}"
                if direction.target is Modality.AUDIO and self.audio_codec is not None:
                    waveform = self._waveform(output["codes"])
                    if len(waveform):
                        audios[name] = waveform.reshape(1, -1, 1)
                elif direction.target is Modality.IMAGE and self.image_codec is not None:
                    images[name] = ((self._pixels(output["grids"]) + 1.0) / 2.0)[None, :, :, None]  # [-1, 1] → [0, 1]
        return images, audios

    def score(self, direction: Direction, targets: Sequence[Mapping], predictions: Sequence[Mapping],
              examples: Sequence[Mapping]) -> dict[str, float]:
        if direction.target is Modality.AUDIO and self.audio_codec is not None and self.transcriber is not None:
            return self._audio(direction, targets, predictions, examples)
        if direction.target is Modality.IMAGE and self.image_codec is not None:
            return self._image(targets, predictions)
        return {}

    def _waveform(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        return self.audio_codec.decode_audio(codes) if len(codes) else np.zeros(0, np.float32)

    def _notes(self, waveform: np.ndarray) -> list[Note]:
        return self.transcriber(waveform, SAMPLE_RATE) if len(waveform) else []

    def _audio(self, direction, targets, predictions, examples) -> dict[str, float]:
        tempo_free = direction.source in TEMPO_FREE_SOURCES
        rows, decoded_targets, decoded_predictions = [], [], []
        for target, prediction, example in zip(targets, predictions, examples):
            reference = [Note(float(s), float(e), int(p), program=int(g))
                         for s, e, p, g in np.asarray(example["reference_notes"]).reshape(-1, 4)]
            decoded_predictions.append(self._waveform(prediction["codes"]))
            decoded_targets.append(self._waveform(target["codes"]))
            estimate, round_trip = self._notes(decoded_predictions[-1]), self._notes(decoded_targets[-1])
            row = note_scores(reference, estimate)
            if tempo_free and reference and estimate:
                row.update(aligned_note_scores(reference, estimate))
            row.update({f"codec_{k}": v for k, v in note_scores(reference, round_trip).items() if k.startswith("onset_f1")})
            rows.append(row)
        scores = _mean(rows)
        # FAD of the decoded outputs against the decoded targets (set-level; needs a few seconds of each)
        if sum(len(w) for w in decoded_targets) > SAMPLE_RATE and sum(len(w) for w in decoded_predictions) > SAMPLE_RATE:
            scores.update(frechet_audio_distance([w for w in decoded_targets if len(w)],
                                                 [w for w in decoded_predictions if len(w)], self.embedding))
        return scores

    def _pixels(self, system_grids: Sequence[np.ndarray]) -> np.ndarray:
        """The first system's pixels; PAD codes (a cut-off last column) drawn as white paper."""
        drawn = grid_pixels(self.image_codec, system_grids[0]) if len(system_grids) else None
        return np.ones((16, 16), np.float32) if drawn is None else drawn

    def _image(self, targets, predictions) -> dict[str, float]:
        rows = []
        for target, prediction in zip(targets, predictions):
            if not len(target["grids"]):
                continue
            reference, estimate = self._pixels(target["grids"]), self._pixels(prediction["grids"])
            reference, estimate = _common_canvas(reference, estimate)
            rows.append({f"image_{k}": v for k, v in codec_evaluation.image_metrics(reference, estimate).items()})
        return _mean(rows)


def _common_canvas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images padded with white (+1) to the larger height and width."""
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
    pad = lambda x: np.pad(x, ((0, height - x.shape[0]), (0, width - x.shape[1])), constant_values=1.0)  # noqa: E731
    return pad(a), pad(b)


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({name for row in rows for name in row})
    return {name: float(np.mean([row[name] for row in rows if name in row])) for name in names}
