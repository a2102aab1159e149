"""`python -m mt_music.train` end to end: tiny synthetic run, SIGTERM + resume, --help, imports, benchmark."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading

import pytest

from mt_music.training import metric_writers

REPO = pathlib.Path(__file__).parent.parent
# One device per run (not the session's 8 simulated ones) and XLA optimisation level 0 (compiles
# faster); the session's compilation cache (conftest) spares the later runs most compiling.
ENV = dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=0")


def _train_args(model_dir, *bindings: str) -> list[str]:
    return [sys.executable, "-m", "mt_music.train", "--gin_file=experiments/tiny_synthetic.gin",
            f"--gin.MODEL_DIR='{model_dir}'", *bindings]


def _checkpoint_steps(model_dir) -> list[int]:
    folder = pathlib.Path(model_dir) / "checkpoints"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def test_train_main_writes_checkpoints_config_and_metrics(tmp_path):
    model_dir = tmp_path / "run"
    result = subprocess.run(_train_args(model_dir, "--gin.TRAIN_STEPS=4", "--gin.train.train.log_every=2",
                                        "--gin.train.train.checkpoint_every=2"),
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert re.search(r"step 4: loss \d+\.\d+, acc [\d.]+, lr [\d.e-]+, grad_norm [\d.e-]+, step [\d.]+ ms, "
                     r"tokens/s \d+", result.stderr), result.stderr[-3000:]
    assert 4 in _checkpoint_steps(model_dir) and 2 in _checkpoint_steps(model_dir)
    operative = (model_dir / "operative_config.gin").read_text()
    assert "train.train.batch_size = %BATCH_SIZE" in operative and "BATCH_SIZE = 8" in operative
    assert "synthetic.SyntheticTask.encoder_length = 32" in operative
    assert "network.TransformerConfig.emb_dim = 64" in operative
    assert (model_dir / "config.gin").exists()
    records = [json.loads(line) for line in (model_dir / metric_writers.METRICS_FILE).read_text().splitlines()]
    steps = [r for r in records if "step" in r]
    assert [r["step"] for r in steps] == [2, 4] and records[0]["hparams"]["batch_size"] == 8
    assert {"train/loss", "train/learning_rate", "train/accuracy_slot3", "perf/tokens_per_s"} <= set(steps[-1])
    if metric_writers.tensorflow_available():  # clu's TensorBoard writer is in use where TensorFlow is
        assert list(model_dir.glob("events.out.tfevents.*"))


def test_sigterm_saves_the_current_step_and_exits_cleanly_then_resumes(tmp_path):
    model_dir = tmp_path / "run"
    args = _train_args(model_dir, "--gin.TRAIN_STEPS=100000", "--gin.train.train.log_every=1",
                       "--gin.train.train.checkpoint_every=1000", "--gin.train.train.tensorboard=False")
    proc = subprocess.Popen(args, cwd=tmp_path, env=ENV, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "step 3: loss" in line:
                proc.send_signal(signal.SIGTERM)
        proc.wait()
    finally:
        watchdog.cancel()
        proc.kill()
    log = "".join(lines)
    assert proc.returncode == 0, log[-4000:]
    stopped = int(re.search(r"stopped by signal at step (\d+); checkpoint saved", log).group(1))
    assert stopped >= 3 and _checkpoint_steps(model_dir)[-1] == stopped

    resumed = subprocess.run(_train_args(model_dir, f"--gin.TRAIN_STEPS={stopped + 2}",  # the schedule stays
                                         "--gin.trainer.OptimizerConfig.total_steps=100000",
                                         "--gin.train.train.tensorboard=False"),
                             cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"starting at step {stopped} of {stopped + 2}" in resumed.stderr
    assert _checkpoint_steps(model_dir)[-1] == stopped + 2


def test_help_and_the_core_imports_no_tensorflow():
    result = subprocess.run([sys.executable, "-m", "mt_music.train", "--help"], cwd=REPO, env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "--gin_file" in result.stdout and "--coordinator_address" in result.stdout and "SIGTERM" in result.stdout
    script = ("import sys\n"
              "from mt_music import train\nfrom mt_music.data import synthetic\n"
              "print(sorted(m for m in ('tensorflow', 'seqio', 'clu.metric_writers') if m in sys.modules))")
    imported = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=ENV, capture_output=True, text=True,
                              timeout=120)
    assert imported.stdout.strip() == "[]", imported.stderr[-2000:]


@pytest.mark.parametrize("gin_file", ["models/tiny.gin"])
def test_benchmark_runs_without_tensorflow(gin_file):
    result = subprocess.run([sys.executable, "tools/benchmark.py", f"--gin_file={gin_file}", "--batch_size=4",
                             "--encoder_length=16", "--decoder_length=16", "--steps=2", "--decode_length=4",
                             "--decode_steps=1"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tokens/s" in result.stdout and "MFU" in result.stdout and "frames/s" in result.stdout
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tensorflow_imported"] is False and 0 < report["mfu"] < 1 and report["step_s"] > 0
    assert report["decode_frames_per_s"] > 0 and report["peak_source"] == "measured fp32 matmul"


def test_a_diverging_run_stops_with_one_error_line_before_saving_the_step_that_stops_it(tmp_path):
    """eps = 0 makes every Adam update 0/0 for parameters without gradient: each step is skipped."""
    model_dir = tmp_path / "run"
    result = subprocess.run(_train_args(model_dir, "--gin.TRAIN_STEPS=50", "--gin.trainer.OptimizerConfig.eps=0.0",
                                        "--gin.train.train.max_consecutive_skipped_steps=3",
                                        "--gin.train.train.stop_check_every=1", "--gin.train.train.tensorboard=False"),
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: training diverged: 3 steps in a row up to step 3" in result.stderr
    assert "Traceback" not in result.stderr and "step 1 skipped" in result.stderr
    assert max(_checkpoint_steps(model_dir), default=0) < 3  # orbax saves step 1 of a new run; nothing later


@pytest.mark.parametrize("files, bindings, message", [
    (["nope.gin"], [], "--gin_file: nope.gin not found"),
    (["experiments/tiny_synthetic.gin"], ["TRAIN_STEPZ=3"], "did you mean TRAIN_STEPS?"),
    (["experiments/tiny_synthetic.gin"], ["train.train.bach_size=3"], "gin:"),
    (["experiments/tiny_synthetic.gin"], ["MODEL_DIR=/tmp/x"], "strings need quotes"),
    (["experiments/tiny_synthetic.gin"], ["TRAIN_STEPS=("], "close every bracket"),
])
def test_gin_mistakes_are_user_errors(files, bindings, message):
    import gin

    from mt_music.errors import UserError
    from mt_music.training import launch

    try:
        with pytest.raises(UserError, match=re.escape(message)):
            launch.parse_gin(files, bindings, [])
    finally:
        gin.clear_config()


def test_a_resume_that_would_change_the_schedule_is_refused(tmp_path):
    from mt_music.errors import UserError
    from mt_music.training import launch

    launch.check_schedule(str(tmp_path), 300, resuming=False)
    launch.check_schedule(str(tmp_path), 300, resuming=True)
    with pytest.raises(UserError, match="total_steps=300 --gin.TRAIN_STEPS"):
        launch.check_schedule(str(tmp_path), 600, resuming=True)
