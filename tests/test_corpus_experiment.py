"""The main job's gin experiment (`experiments/corpus_cpu.gin`) end to end on a small NumPy token store:
per-direction losses named in the log and the closing table, a resume that continues exactly, and
`mt_music.eval` on the checkpoint it leaves."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

from system_records import piece_record, record
from test_system_tasks import write_split

from mt_music.data import record_store
from mt_music.training import metric_writers

ENV = dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=0")


def _train(tmp_path, model_dir, store, pieces, extra=(), env=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "mt_music.train", "--gin_file=experiments/corpus_cpu.gin",
            f"--gin.MODEL_DIR='{model_dir}'", "--gin.TRAIN_STEPS=4", "--gin.BATCH_SIZE=8",
            "--gin.train.train.log_every=1", "--gin.train.train.checkpoint_every=2",
            "--gin.train.train.tensorboard=False", f"--gin.token_mixture.from_token_records.pattern='{store}'",
            f"--gin.token_mixture.from_token_records.pieces_pattern='{pieces}'",
            "--gin.token_mixture.from_token_records.step_scale=0.0", *extra]
    return subprocess.run(args, cwd=pathlib.Path(__file__).parents[1], env=env or ENV, capture_output=True, text=True,
                          timeout=600)


def _losses(model_dir) -> dict[int, dict]:
    lines = (pathlib.Path(model_dir) / metric_writers.METRICS_FILE).read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines) if "step" in r}  # a resumed run's lines come last


def test_the_cpu_experiment_trains_all_directions_and_resumes_exactly(tmp_path):
    store = tmp_path / "store" / "tokens-00000.npz"
    record_store.write_shard([record(seed, columns=5 + seed % 3, frames=30 + seed) for seed in range(8)], store)
    pieces = tmp_path / "pieces" / "tokens-00000.npz"
    record_store.write_shard([piece_record(seed) for seed in range(2)], pieces)
    tokens = tmp_path / "tokens"  # for the evaluations: the tiny corpus's tasks over fixture TFRecords
    write_split(tokens / "tiny" / "validation", [record(seed, columns=5 + seed % 3, frames=30 + seed) for seed in range(2)])
    write_split(tokens / "tiny_pieces" / "validation", [piece_record(0, seconds=2.0)])
    run = tmp_path / "run"
    in_training = ["--gin_file=eval.gin", "--gin.train.train.evaluation=@eval.evaluate", "--gin.train.train.eval_every=4",
                   "--gin.MIXTURE_OR_TASK_NAME='mt_music_corpus_tiny_pieces_audio2midi'", "--gin.eval.evaluate.limit=1",
                   "--gin.eval.evaluate.crop=True", "--gin.eval.evaluate.encoder_length=128",
                   "--gin.eval.evaluate.decoder_length=16", "--gin.eval.evaluate.batch_size=1"]
    result = _train(tmp_path, run, store, pieces, in_training, env={**ENV, "MT_MUSIC_TOKENS_DIR": str(tokens)})
    assert result.returncode == 0, result.stderr[-4000:]
    table = result.stdout.split("per-task training loss", 1)[1].splitlines()[2:]
    named = {line.split()[0] for line in table if line.strip()}
    assert named and named <= {"image2lmx", "midi2audio", "image2audio", "audio2midi", "lmx2image", "audio2image",
                               "image2midi", "midi2image", "lmx2midi", "midi2lmx", "lmx2audio", "audio2lmx"}
    evaluated_in_training = json.loads((run / "eval_validation" / "results.json").read_text())
    assert evaluated_in_training["step"] == 4 and list(evaluated_in_training["results"]) == [
        "mt_music_corpus_tiny_pieces_audio2midi"]
    straight = _losses(run)
    assert any(key.startswith("train/task/") and key.endswith("/loss") for key in straight[4])
    assert straight[1]["train/task/image2lmx/weight"] == 1 / 12  # step_scale 0: every direction from the start
    assert "audio2midi: random 1.4 s windows of 2 pieces" in result.stderr

    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    shutil.rmtree(resumed / "checkpoints" / "4")
    again = _train(tmp_path, resumed, store, pieces)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "starting at step 2" in again.stderr
    for step in (3, 4):
        assert _losses(resumed)[step]["train/loss"] == straight[step]["train/loss"]

    # the evaluation of that checkpoint on the tiny corpus's eval mixture, over fixture records in the
    # bake's real TFRecord format: every task scored, tables and files written
    evaluated = _evaluate(run, tmp_path / "eval", tokens)
    assert evaluated.returncode == 0, evaluated.stderr[-4000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["step"] == 4 and len(results["results"]) == 12
    scores = results["results"]
    assert 0 <= scores["mt_music_corpus_tiny_image2lmx"]["image2lmx/ser"] and "onset_f1" in " ".join(
        scores["mt_music_corpus_tiny_pieces_audio2midi"])
    assert "midi2audio/codec_onset_f1" in scores["mt_music_corpus_tiny_pieces_midi2audio"]
    assert "lmx2image/image_ink_recall" in scores["mt_music_corpus_tiny_lmx2image"]
    assert {"midi2image/recognized_pitch_emd", "midi2image/codec_recognized_duration_emd",
            "midi2image/random_pitch_emd"} <= set(scores["mt_music_corpus_tiny_midi2image"])
    assert set(results["seconds"]["mt_music_corpus_tiny_image2lmx"]) == {"decoding", "postprocessing", "scoring"}
    assert "evaluated 12 tasks in" in evaluated.stdout
    assert "LMX outputs" in evaluated.stdout and "| mt_music_corpus_tiny_image2lmx |" in evaluated.stdout
    assert (tmp_path / "eval" / "results.md").read_text().count("| mt_music_corpus_tiny_") == 12
    logged = [json.loads(line) for line in (tmp_path / "eval" / metric_writers.METRICS_FILE).read_text().splitlines()]
    assert any("inference_eval/mt_music_corpus_tiny_midi2lmx/ser" in line for line in logged)
    samples = sorted(p.name for p in (tmp_path / "eval" / metric_writers.SAMPLES_DIR).iterdir())
    assert any(n.startswith("inference_eval_mt_music_corpus_tiny_lmx2image_predicted_0") for n in samples)
    assert any(n.startswith("inference_eval_mt_music_corpus_tiny_image2audio_target_0") and n.endswith(".wav")
               for n in samples)  # a few decoded outputs and targets per image / audio task

    missing = _evaluate(tmp_path / "no_such_run", tmp_path / "eval_missing", tokens)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith("error: CHECKPOINT_PATH")
    assert not (tmp_path / "eval_missing").exists() and not (tmp_path / "no_such_run").exists()  # nothing written


def _evaluate(run, output, tokens) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "mt_music.eval", "--gin_file=models/tiny.gin", "--gin_file=eval.gin",
            f"--gin.CHECKPOINT_PATH='{run}'", "--gin.MIXTURE_OR_TASK_NAME='mt_music_corpus_tiny_all_directions_eval'",
            f"--gin.EVAL_OUTPUT_DIR='{output}'", "--gin.eval.evaluate.limit=2", "--gin.eval.evaluate.crop=True",
            "--gin.eval.evaluate.encoder_length=128", "--gin.eval.evaluate.decoder_length=32",
            "--gin.eval.evaluate.batch_size=2"]
    return subprocess.run(args, cwd=pathlib.Path(__file__).parents[1], env={**ENV, "MT_MUSIC_TOKENS_DIR": str(tokens)},
                          capture_output=True, text=True, timeout=600)
