r"""Evaluates a checkpoint on a SeqIO mixture or task: `python -m mt_music.eval --gin_file=… [--gin.NAME=VALUE …]`.

T5X-shaped: the model's gin file, then `eval.gin`, then the two required bindings:

    python -m mt_music.eval --gin_file=models/tiny.gin --gin_file=eval.gin \
        --gin.CHECKPOINT_PATH="'runs/corpus_cpu'" \
        --gin.MIXTURE_OR_TASK_NAME="'mt_music_corpus_small_all_directions_eval'"

Restores the parameters only (the optimizer state stays on disk), reads each task's split
(`SPLIT`, default validation; `--gin.evaluate.limit=N` examples per task), predicts with the
published decoding per output modality (greedy for LMX; top-p 0.9 at temperature 0.1 for MIDI;
temperature 1.0 for image and audio codes; `evaluate.temperature` / `.top_p` override them, one
value or one per modality in the order LMX, MIDI, IMAGE, AUDIO), postprocesses with each task's
postprocessor and scores it (`mt_music.evaluation.scoring`; image and audio outputs also through
their codecs, `evaluate.image_codec` / `.audio_codec`, and basic-pitch: `mt_music.media_scoring`; a
generated image is also read back by the model's own image→LMX direction for the published EMD of
pitch / duration token histograms). Writes into EVAL_OUTPUT_DIR
(default `<CHECKPOINT_PATH>/eval_<split>`): `results.json`, `results.md` (a task × metric table, also
printed) and `metrics.jsonl` / TensorBoard scalars `inference_eval/<task>/<metric>` at the
checkpoint's step, with a few decoded image / audio outputs and targets per task (TensorBoard and
`samples/`). Audio→MIDI also gets the peer rows: basic-pitch on each window's own corpus audio,
stitched and scored per piece like the model (`peer_basic_pitch_*`). `evaluate.piece_window_seconds`
cuts the audio↔MIDI piece windows to the length the run trained on (default: the published 10 s).
Examples stream through in batches (memory: one batch of inputs plus the postprocessed outputs).
An example whose source is longer than the encoder is counted and skipped
(`evaluate.crop=True` cuts instead, as the CPU experiment trains); one whose postprocessing fails
is counted (`failed_postprocessing`) and the rest go on.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Sequence

import jax
import numpy as np
from absl import logging
from tqdm import tqdm

from mt_music import media_scoring
from mt_music.audio.io import FRAMES_PER_SECOND, SAMPLE_RATE
from mt_music.data import features
from mt_music.errors import UserError, check_output_dir
from mt_music.evaluation import histograms, lmx_metrics, scoring
from mt_music.image import grids
from mt_music.inference import exported, sampling
from mt_music.model import models
from mt_music.training import checkpoints, launch, metric_writers
from mt_music.vocabulary import Modality

# per target modality, in Modality order (LMX, MIDI, IMAGE, AUDIO): docs/design.md §5.4
DEFAULT_TEMPERATURE = sampling.per_modality("temperature")
DEFAULT_TOP_P = sampling.per_modality("top_p")


def evaluate(*, model: models.EncoderDecoderModel, checkpoint_path: str | None, mixture_or_task_name: str,
             split: str = "validation", output_dir: str | None = None, encoder_length: int = 3902,
             decoder_length: int = 3902, batch_size: int = 8, limit: int | None = None, crop: bool = False,
             temperature: float | Sequence[float] = DEFAULT_TEMPERATURE,
             top_p: float | Sequence[float] = DEFAULT_TOP_P, seed: int = 0, step: int | None = None,
             image_codec: str | None = None, audio_codec: str | None = None, transcribe: bool = True,
             piece_window_seconds: float | None = None) -> dict:
    """Scores every task of the mixture; returns {task: {metric: value}}."""
    for value, setting in ((batch_size, "evaluate.batch_size"), (encoder_length, "evaluate.encoder_length"),
                           (decoder_length, "evaluate.decoder_length")):
        launch.check_count(value, setting)
    if limit is not None:
        launch.check_count(limit, "evaluate.limit")
    if not checkpoint_path:
        raise UserError("CHECKPOINT_PATH is required: bind it to a run's MODEL_DIR, e.g. "
                        "--gin.CHECKPOINT_PATH=\"'runs/corpus_cpu'\"")
    if not os.path.isdir(checkpoint_path):  # before anything is written next to it
        raise UserError(f"CHECKPOINT_PATH: {checkpoint_path} does not exist; give a run's MODEL_DIR, its "
                        "checkpoints/ folder or one step's folder")
    output = check_output_dir(output_dir or os.path.join(checkpoint_path, f"eval_{split}"), "EVAL_OUTPUT_DIR")
    params, step = checkpoints.restore_params(checkpoint_path, exported.abstract_params(model), step)
    media = media_scoring.MediaScorer.load(image_codec, audio_codec, transcribe)
    from mt_music.tasks import eval_inputs  # SeqIO / TensorFlow: the data side of the evaluation

    tasks = eval_inputs.eval_tasks(mixture_or_task_name, split, limit, piece_window_seconds)
    results, seconds, samples, started = {}, {}, {}, time.perf_counter()
    for task in tasks:
        results[task.name], seconds[task.name], samples[task.name] = _evaluate_task(
            model, params, task, encoder_length, decoder_length, batch_size, crop, temperature, top_p, seed, media)
    parts = {part: sum(task[part] for task in seconds.values()) for part in ("decoding", "postprocessing", "scoring")}
    summary = (f"evaluated {len(tasks)} tasks in {time.perf_counter() - started:.1f} s: "
               + ", ".join(f"{part} {value:.1f} s" for part, value in parts.items()))
    _write(output, results, step, seconds, samples)
    print(markdown_table(results), summary, sep="\n\n", flush=True)
    return results


def _row(model, task, example: dict, encoder_length: int, decoder_length: int, crop: bool):
    """(model row, the example as scored) — or None when the example is longer than the model reads."""
    source, source_positions = example["inputs"], example["inputs_positions"]
    target, target_positions = example["targets"], example["targets_positions"]
    if crop:
        source, source_positions = source[:encoder_length], source_positions[:encoder_length]
        target, target_positions = target[:decoder_length], target_positions[:decoder_length]
        example = {**example, "targets": target}
        if task.direction.target is Modality.AUDIO and "reference_notes" in example:
            example["reference_notes"] = _notes_before(example["reference_notes"],
                                                       (decoder_length - 1) / FRAMES_PER_SECOND)
    if len(source) > encoder_length or len(target) > decoder_length:
        return None
    row = features.convert(model.vocabulary, source=source, source_positions=source_positions,
                           source_modality=task.direction.source, target=target,
                           target_positions=target_positions, target_modality=task.direction.target,
                           encoder_length=encoder_length, decoder_length=decoder_length)
    return row, example


def _batches(model, task, encoder_length: int, decoder_length: int, batch_size: int, crop: bool, counts: dict):
    """Lists of up to `batch_size` (row, example) pairs, streamed from the task (counts["too_long"])."""
    batch = []
    for example in task.examples():
        converted = _row(model, task, example, encoder_length, decoder_length, crop)
        if converted is None:
            counts["too_long"] += 1
            continue
        batch.append(converted)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _notes_before(notes: np.ndarray, seconds: float) -> np.ndarray:
    """[N, 4] reference notes cut to the first `seconds` (what a cropped audio target still holds)."""
    notes = np.asarray(notes, np.float32).reshape(-1, 4)
    notes = notes[notes[:, 0] < seconds].copy()
    notes[:, 1] = np.minimum(notes[:, 1], seconds)
    return notes


BULKY_FIELDS = ("inputs", "inputs_positions", "targets", "targets_positions", "window_audio")


def _evaluate_task(model, params, task, encoder_length, decoder_length, batch_size, crop, temperature, top_p,
                   seed, media) -> tuple[dict[str, float], dict[str, float], tuple[dict, dict]]:
    """(scores, seconds spent decoding / postprocessing / scoring, (image, audio) samples).

    Memory: a batch of inputs at a time; what is kept per example is its postprocessed target and
    prediction and its small reference fields (notes, LMX, piece position)."""
    seconds = dict.fromkeys(("decoding", "postprocessing", "scoring"), 0.0)
    counts = {"too_long": 0, "failed": 0}
    targets, predictions, ids, kept, peer_notes = [], [], [], [], {}
    rng = jax.random.key(seed)
    progress = tqdm(desc=task.name, unit="example")
    for chunk in _batches(model, task, encoder_length, decoder_length, batch_size, crop, counts):
        batch = {name: np.stack([row[name] for row, _ in chunk] + [chunk[-1][0][name]] * (batch_size - len(chunk)))
                 for name in models.PREDICT_FEATURES}
        rng, step_rng = jax.random.split(rng)
        clock = time.perf_counter()
        frames = np.asarray(model.predict_batch(params, batch, step_rng, max_decode_length=decoder_length,
                                                temperature=temperature, top_p=top_p))
        seconds["decoding"] += time.perf_counter() - clock
        clock = time.perf_counter()
        for offset, (_, example) in enumerate(chunk):
            try:
                predicted = task.postprocess(frames[offset], example=example, is_target=False)
                target = task.postprocess(example["targets"], example=example, is_target=True)
            except Exception as error:  # noqa: BLE001 - one broken output must not stop the evaluation
                counts["failed"] += 1
                logging.warning("%s: postprocessing example %s failed: %s", task.name, example.get("id"), error)
                continue
            predictions.append(predicted)
            targets.append(target)
            ids.append(_text(example.get("id", str(len(ids)))))
            for name, notes in media.peer_notes(example).items():
                peer_notes.setdefault(name, []).append(notes)
            kept.append({key: value for key, value in example.items() if key not in BULKY_FIELDS})
        seconds["postprocessing"] += time.perf_counter() - clock
        progress.update(len(chunk))
    progress.close()
    if counts["too_long"]:
        logging.warning("%s: %d examples longer than %d / %d frames, not evaluated (evaluate.crop cuts them)",
                        task.name, counts["too_long"], encoder_length, decoder_length)
    clock = time.perf_counter()
    scores = scoring.score_task(task.direction.name, task.direction.target, targets, predictions, ids,
                                model.vocabulary)
    if peer_notes:
        scores.update(scoring.peer_scores(task.direction.name, targets, peer_notes, ids, model.vocabulary))
    prefix = task.direction.name
    scores.update({f"{prefix}/{key}": value for key, value in media.score(task.direction, targets, predictions,
                                                                          kept).items()})
    if task.direction.target is Modality.IMAGE and targets:
        scores.update({f"{prefix}/{key}": value for key, value in _recognition_scores(
            model, params, targets, predictions, kept, encoder_length, decoder_length, batch_size).items()})
    scores.update({f"{prefix}/too_long": float(counts["too_long"]),
                   f"{prefix}/failed_postprocessing": float(counts["failed"])})
    samples = media.samples(task.direction, targets, predictions)
    seconds["scoring"] = time.perf_counter() - clock
    return scores, seconds, samples


def _image_source(vocabulary, system_grids, encoder_length: int) -> tuple[np.ndarray, np.ndarray]:
    """A generated image (its system grids) as encoder input frames, cut to the encoder's length."""
    trimmed = [grids.trim_padding(np.asarray(g)) for g in system_grids]
    trimmed = [g for g in trimmed if g.size] or [np.full((1, 1, vocabulary.num_slots), 0, np.int32)]
    joined = grids.join_systems_for_input(trimmed, vocabulary.config.image_grid)
    frames = vocabulary.encode_image(joined.frames)
    return frames[:encoder_length], joined.positions[:encoder_length]


def _recognize(model, params, sources, encoder_length: int, decoder_length: int, batch_size: int) -> list[str]:
    """LMX that the model's own image→LMX direction reads from each image (greedy)."""
    k, texts = model.vocabulary.num_slots, []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start: start + batch_size]
        chunk = chunk + [chunk[-1]] * (batch_size - len(chunk))
        batch = {"encoder_input_tokens": np.zeros((batch_size, encoder_length, k), np.int32),
                 "encoder_positions": np.zeros((batch_size, encoder_length, 2), np.int32),
                 "encoder_modality": np.full((batch_size,), Modality.IMAGE, np.int32),
                 "decoder_modality": np.full((batch_size,), Modality.LMX, np.int32)}
        for row, (frames, positions) in enumerate(chunk):
            batch["encoder_input_tokens"][row, : len(frames)] = frames
            batch["encoder_positions"][row, : len(positions)] = positions
        outputs = np.asarray(model.predict_batch(params, batch, max_decode_length=decoder_length, temperature=0.0))
        texts += [" ".join(model.vocabulary.decode_lmx(frames)[0]) for frames in outputs]
    return texts[: len(sources)]


def _recognition_scores(model, params, targets, predictions, examples, encoder_length: int, decoder_length: int,
                        batch_size: int) -> dict[str, float]:
    """The published audio→image metric: the generated image read back by the model's image→LMX, then the
    EMD of its pitch / duration token histograms against the reference LMX (and its SER). Reference rows:
    the target image read the same way (`codec_` keys) and a random pairing of references (`random_`)."""
    references = [_text(example.get("reference_lmx", b"")) for example in examples]
    if not any(references):
        return {}
    vocabulary = model.vocabulary
    sources = [_image_source(vocabulary, output["grids"], encoder_length) for output in [*predictions, *targets]]
    texts = _recognize(model, params, sources, encoder_length, decoder_length, batch_size)
    recognized, round_trip = texts[: len(predictions)], texts[len(predictions):]
    scores = {f"recognized_{k}": v for k, v in histograms.token_histogram_emd(references, recognized).items()}
    scores["recognized_ser"] = lmx_metrics.lmx_scores(references, recognized)["ser"]
    scores.update({f"codec_recognized_{k}": v for k, v in histograms.token_histogram_emd(references, round_trip).items()})
    if len(references) > 1:
        scores.update({f"random_{k}": v for k, v in histograms.random_pairing_emd(references).items()})
    return scores


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    """Per output modality, a table of its tasks × metrics (the names after the direction)."""
    groups: dict[str, list[str]] = {}
    for task in results:
        groups.setdefault(eval_target(task), []).append(task)
    sections = []
    for modality, tasks in groups.items():
        metrics = sorted({key.split("/", 1)[1] for task in tasks for key in results[task]})
        lines = [f"{modality} outputs", "", "| task | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for task in tasks:
            by_metric = {key.split("/", 1)[1]: value for key, value in results[task].items()}
            lines.append(f"| {task} | " + " | ".join(f"{by_metric[m]:.4g}" if m in by_metric else "" for m in metrics)
                         + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def eval_target(task_name: str) -> str:
    """'LMX', 'MIDI', 'IMAGE' or 'AUDIO': the output modality a task name ends with."""
    return task_name.rsplit("2", 1)[-1].upper()


def _write(output, results: dict, step: int, seconds: dict, samples: dict) -> None:
    launch.write_text(str(output / "results.json"),
                      json.dumps({"step": step, "results": results, "seconds": seconds}, indent=1) + "\n")
    launch.write_text(str(output / "results.md"), markdown_table(results) + "\n")
    writer = metric_writers.create_default_writer(str(output))
    for task, scores in results.items():
        writer.write_scalars(step, {f"inference_eval/{task}/{key.split('/', 1)[1]}": v for key, v in scores.items()})
    for task, (images, audios) in samples.items():  # one write per sample: their sizes differ
        for name, image in images.items():
            writer.write_images(step, {f"inference_eval/{task}/{name.split('/', 1)[1]}": image})
        for name, audio in audios.items():
            writer.write_audios(step, {f"inference_eval/{task}/{name.split('/', 1)[1]}": audio},
                                sample_rate=SAMPLE_RATE)
    writer.flush()
    writer.close()


def main(argv: list[str]) -> None:
    launch.main(argv, lambda: importlib.import_module("mt_music.eval").evaluate, example_gin_file="eval.gin")


if __name__ == "__main__":
    launch.run(main)
