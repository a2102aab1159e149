r"""Fault injection for training runs: damages, kills and misconfigures tiny CPU runs and checks they survive.

    python tools/fault_injection.py               # every case (about 15 minutes on 2 cores)
    python tools/fault_injection.py --only damaged --trials 2

Each case runs `python -m mt_music.train` (experiments/tiny_synthetic.gin) in a temporary folder,
injects its fault and checks the outcome: no silent NaN, no lost good checkpoint, no traceback for
a user error, no duplicate metric rows, exact resume. It prints a table (case, trials, outcome) and
exits 1 if any trial failed. The token-bake case trains a tiny image codec for a few steps first.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
SCHEDULE = "--gin.trainer.OptimizerConfig.total_steps=200"  # fixed, so runs of any length share one schedule


class Failed(Exception):
    """A trial's outcome is not the one a robust run gives."""


# ------------------------------------------------------------------ running


def train_args(model_dir: pathlib.Path, *bindings: str) -> list[str]:
    return [sys.executable, "-m", "mt_music.train", "--gin_file=experiments/tiny_synthetic.gin",
            f"--gin.MODEL_DIR='{model_dir}'", "--gin.train.train.log_every=1", "--gin.train.train.tensorboard=False",
            "--gin.BATCH_SIZE=4", SCHEDULE, *bindings]


def train(model_dir: pathlib.Path, *bindings: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(train_args(model_dir, *bindings), cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def train_until(model_dir: pathlib.Path, *bindings: str, when: Callable[[str], bool], action: Callable,
                timeout: int = 600) -> tuple[int, str]:
    """Starts a run, calls `action(process)` at the first stderr line where `when(line)`; (exit status, log)."""
    process = subprocess.Popen(train_args(model_dir, *bindings), cwd=REPO, env=ENV, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    lines, acted, deadline = [], False, time.time() + timeout
    for line in process.stderr:
        lines.append(line)
        if not acted and when(line):
            action(process)
            acted = True
        if time.time() > deadline:
            process.kill()
    process.wait()
    return process.returncode, "".join(lines)


def expect_clean_error(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """Non-zero exit, no traceback, the last stderr line an `error:` line holding `phrases`."""
    last = [line for line in result.stderr.splitlines() if line.strip()][-1:] or [""]
    if result.returncode == 0 or "Traceback" in result.stderr or not last[0].startswith("error:"):
        raise Failed(f"exit {result.returncode}, last line {last[0][:160]!r}")
    missing = [phrase for phrase in phrases if phrase not in last[0]]
    if missing:
        raise Failed(f"error line lacks {missing}: {last[0][:200]}")
    return last[0][:110]


def expect_success(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0 or "Traceback" in result.stderr:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if "Traceback" in result.stderr:  # the traceback's own last lines say what failed
            start = max(i for i, line in enumerate(lines) if line.startswith("Traceback"))
            lines = [line for line in lines[start:] if not line.startswith(("I1", "W1", "I0", "E0"))]
        raise Failed(f"exit {result.returncode}: {' | '.join(lines[-3:])[:300]}")


# ------------------------------------------------------------------ reading a run


def checkpoint_steps(model_dir: pathlib.Path) -> list[int]:
    folder = model_dir / "checkpoints"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def nonfinite_checkpoints(model_dir: pathlib.Path) -> list[int]:
    """Steps whose saved state holds a NaN or infinity."""
    import jax
    import orbax.checkpoint as ocp

    bad = []
    for step in checkpoint_steps(model_dir):
        state = ocp.StandardCheckpointer().restore(model_dir / "checkpoints" / str(step) / "state")
        if not all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state)
                   if np.issubdtype(np.asarray(x).dtype, np.floating)):
            bad.append(step)
    return bad


def logged_losses(model_dir: pathlib.Path) -> list[tuple[int, float]]:
    path = model_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return [(row["step"], row["train/loss"]) for row in rows if "train/loss" in row]


def expect_unique_steps(model_dir: pathlib.Path) -> list[int]:
    steps = [step for step, _ in logged_losses(model_dir)]
    if len(steps) != len(set(steps)):
        raise Failed(f"duplicate metric rows: {sorted(s for s in set(steps) if steps.count(s) > 1)}")
    return steps


def damage(path: pathlib.Path, how: str) -> None:
    """Truncates, flips 4 KiB inside (same size), empties or deletes a file."""
    if how == "truncate":
        os.truncate(path, min(100, path.stat().st_size // 2))
    elif how == "xor":
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        for i in range(middle, min(len(data), middle + 4096)):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


# ------------------------------------------------------------------ cases


REFERENCE_DIR: list[pathlib.Path] = []  # set by main: where the uninterrupted reference runs are kept


def reference_losses(steps: int) -> list[tuple[int, float]]:
    """The losses of an uninterrupted run of `steps` steps (made once)."""
    model_dir = REFERENCE_DIR[0] / f"reference_{steps}"
    if not model_dir.exists():
        expect_success(train(model_dir, f"--gin.TRAIN_STEPS={steps}", "--gin.train.train.checkpoint_every=1000"))
    return logged_losses(model_dir)


def case_damaged_checkpoint(base: pathlib.Path, how: str, target: str, sealed: bool) -> str:
    """Steps 10 and 20 saved; the newest is damaged; the resume must fall back to 10 and train on, exactly."""
    model_dir = base / "run"
    expect_success(train(model_dir, "--gin.TRAIN_STEPS=20", "--gin.train.train.checkpoint_every=10"))
    step_dir = model_dir / "checkpoints" / "20"
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.name != "checksums.json"]
    victim = max(files, key=lambda p: p.stat().st_size) if target == "largest" else next(
        p for p in files if p.name == target)
    damage(victim, how)
    if not sealed:
        (step_dir / "checksums.json").unlink()
    result = train(model_dir, "--gin.TRAIN_STEPS=30", "--gin.train.train.checkpoint_every=10")
    expect_success(result)
    if "is damaged" in result.stderr:
        if "starting at step 10 of 30" not in result.stderr:
            raise Failed("reported the damage but did not fall back to step 10")
        outcome = "fell back to step 10, resumed exactly"
    elif not sealed and "starting at step 20 of 30" in result.stderr:
        outcome = "unsealed step still restores (file not needed / still decodes); resumed exactly"
    else:
        raise Failed("did not report the damage and fall back to step 10")
    if checkpoint_steps(model_dir)[-1] != 30 or nonfinite_checkpoints(model_dir):
        raise Failed(f"checkpoints after the resume: {checkpoint_steps(model_dir)}, non-finite ones present")
    steps = expect_unique_steps(model_dir)
    if logged_losses(model_dir) != reference_losses(30):
        raise Failed(f"losses differ from an uninterrupted run (steps {steps[:3]}…)")
    return outcome


def case_divergence(base: pathlib.Path, *bindings: str) -> str:
    model_dir = base / "run"
    result = train(model_dir, "--gin.TRAIN_STEPS=40", "--gin.train.train.checkpoint_every=5", *bindings)
    line = expect_clean_error(result, "training diverged")
    bad = nonfinite_checkpoints(model_dir)
    if bad:
        raise Failed(f"non-finite checkpoints saved: steps {bad}")
    return f"stopped, {len(checkpoint_steps(model_dir))} finite checkpoints: {line[:60]}"


def case_signal(base: pathlib.Path, signum: int) -> str:
    """A signal at step ~5: checkpoint + exit 0, then the resume continues exactly and logs each step once."""
    model_dir = base / "run"
    status, log = train_until(model_dir, "--gin.TRAIN_STEPS=30", "--gin.train.train.checkpoint_every=1000",
                              when=lambda line: "step 5: loss" in line, action=lambda p: p.send_signal(signum))
    if status != 0 or "Traceback" in log:
        raise Failed(f"exit {status} after the signal")
    stopped = checkpoint_steps(model_dir)[-1:] or [0]
    if stopped[0] < 5:
        raise Failed(f"no checkpoint at the stop (steps {checkpoint_steps(model_dir)})")
    expect_success(train(model_dir, "--gin.TRAIN_STEPS=30", "--gin.train.train.checkpoint_every=1000"))
    expect_unique_steps(model_dir)
    if logged_losses(model_dir) != reference_losses(30):
        raise Failed("losses differ from an uninterrupted run")
    return f"saved step {stopped[0]}, exit 0, resumed exactly"


def case_signal_during_start_up(base: pathlib.Path) -> str:
    model_dir = base / "run"
    status, log = train_until(model_dir, "--gin.TRAIN_STEPS=30", when=lambda line: "mesh {" in line,
                              action=lambda p: p.send_signal(signal.SIGTERM))
    if status != 0 or "Traceback" in log:
        raise Failed(f"exit {status}")
    return f"exit 0, checkpoints {checkpoint_steps(model_dir)}"


def case_kill_during_saves(base: pathlib.Path, seed: int) -> str:
    """kill -9 at a random moment of a run that saves every step (async), three times in a chain; then a
    resume restores the newest complete step, and the metric rows survive, each step once."""
    rng = random.Random(seed)
    model_dir = base / "run"
    for _ in range(3):
        delay = rng.uniform(1.0, 4.0)
        def kill_later(process, delay=delay):
            time.sleep(delay)
            process.kill()
        train_until(model_dir, "--gin.TRAIN_STEPS=200", "--gin.train.train.checkpoint_every=1",
                    "--gin.train.train.keep_checkpoints=3", when=lambda line: "first step" in line, action=kill_later)
    logged = expect_unique_steps(model_dir)
    if not logged:
        raise Failed("a killed run kept no metric rows")
    newest = checkpoint_steps(model_dir)[-1]
    result = train(model_dir, f"--gin.TRAIN_STEPS={newest + 3}", "--gin.train.train.checkpoint_every=1")
    expect_success(result)
    if f"starting at step {newest} of" not in result.stderr and "is damaged" not in result.stderr:
        raise Failed(f"did not resume from the newest step {newest}")
    expect_unique_steps(model_dir)
    return f"{len(logged)} rows kept; resumed from step {newest}"


def case_extend(base: pathlib.Path) -> str:
    model_dir = base / "run"
    args = [sys.executable, "-m", "mt_music.train", "--gin_file=experiments/tiny_synthetic.gin",
            f"--gin.MODEL_DIR='{model_dir}'", "--gin.train.train.tensorboard=False", "--gin.BATCH_SIZE=4"]
    run = lambda *extra: subprocess.run(args + list(extra), cwd=REPO, env=ENV, capture_output=True, text=True)  # noqa: E731
    expect_success(run("--gin.TRAIN_STEPS=10"))
    line = expect_clean_error(run("--gin.TRAIN_STEPS=20"), "total_steps=10")
    expect_clean_error(run("--gin.TRAIN_STEPS=10"), "nothing to do")
    expect_success(run("--gin.TRAIN_STEPS=20", "--gin.trainer.OptimizerConfig.total_steps=10"))
    if checkpoint_steps(model_dir)[-1] != 20:
        raise Failed("the extended run did not reach step 20")
    return f"refused, then extended with the schedule kept: {line[7:50]}…"


def case_config_error(base: pathlib.Path, bindings: list[str], phrase: str, devices: int = 1,
                      resume_first: bool = False) -> str:
    model_dir = base / "run"
    if resume_first:
        expect_success(train(model_dir, "--gin.TRAIN_STEPS=2"))
    env = dict(ENV, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    result = subprocess.run(train_args(model_dir, *bindings), cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    return expect_clean_error(result, phrase)


def case_rebake(base: pathlib.Path) -> str:
    """A bake with another codec step into the same --out stops with an error (nothing rewritten), or re-bakes."""
    from PIL import Image

    images = base / "systems"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        page = np.full((48, 96), 255, np.uint8)
        page[8:40:8] = 0  # staff lines
        page[:, rng.integers(0, 96, 6)] = 0
        Image.fromarray(page).save(images / f"system{i}.png")
    codec_dir = base / "codec"
    command = [sys.executable, "-m", "mt_music.codecs.train", "--gin_file=codecs/image_tiny.gin",
               f"--gin.MODEL_DIR='{codec_dir}'", "--gin.codec_windows.ImageCrops.images=@codec_windows.directory_images()",
               f"--gin.codec_windows.directory_images.directory='{images}'", "--gin.BATCH_SIZE=4",
               "--gin.codec_windows.ImageCrops.crop_height=32", "--gin.codec_windows.ImageCrops.crop_width=32",
               "--gin.train.train.checkpoint_every=2", "--gin.train.train.tensorboard=False", "--gin.TRAIN_STEPS=4"]
    expect_success(subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900))
    out = base / "tokens"
    bake = [sys.executable, "tools/bake_codec_tokens.py", "--image-codec", str(codec_dir), "--images-dir", str(images),
            "--out", str(out), "--examples-per-shard", "1", "--no-progress", "--no-shifts"]
    run = lambda *extra: subprocess.run(bake + list(extra), cwd=REPO, env=ENV, capture_output=True, text=True)  # noqa: E731
    expect_success(run("--image-codec-step", "2"))
    before = {p.name: p.read_bytes() for p in (out / "all").iterdir()}
    line = expect_clean_error(run(), "baked with other codecs")
    if before != {p.name: p.read_bytes() for p in (out / "all").iterdir()}:
        raise Failed("the refused bake changed the output")
    expect_success(run("--overwrite"))
    codecs = json.loads((out / "bake.json").read_text())["codecs"]
    if codecs["image"]["step"] != 4:
        raise Failed("bake.json does not name the new step")
    return f"refused, then re-baked: {line[7:60]}…"


def cases() -> dict[str, Callable[[pathlib.Path, int], str]]:
    table = {}
    for how, target in (("truncate", "largest"), ("xor", "largest"), ("empty", "_METADATA"),
                        ("delete", "manifest.ocdbt")):
        for sealed in (True, False):
            name = f"damaged checkpoint: {how} {target}{'' if sealed else ' (not yet sealed)'}"
            table[name] = lambda base, trial, h=how, t=target, s=sealed: case_damaged_checkpoint(base, h, t, s)
    table["divergence: learning rate 1e4"] = lambda base, trial: case_divergence(
        base, "--gin.trainer.OptimizerConfig.learning_rate=1e4", "--gin.trainer.OptimizerConfig.warmup_steps=1")
    table["divergence: Adam eps 0 (0/0 in the update)"] = lambda base, trial: case_divergence(
        base, "--gin.trainer.OptimizerConfig.eps=0.0", "--gin.train.train.max_consecutive_skipped_steps=5")
    table["SIGTERM mid-run"] = lambda base, trial: case_signal(base, signal.SIGTERM)
    table["SIGINT (Ctrl-C) mid-run"] = lambda base, trial: case_signal(base, signal.SIGINT)
    table["SIGTERM during start-up"] = lambda base, trial: case_signal_during_start_up(base)
    table["kill -9 during async saves (3 in a chain)"] = lambda base, trial: case_kill_during_saves(base, trial)
    table["extend a finished run"] = lambda base, trial: case_extend(base)
    table["TRAIN_STEPS=0"] = lambda base, trial: case_config_error(base, ["--gin.TRAIN_STEPS=0"], "TRAIN_STEPS")
    table["batch 0"] = lambda base, trial: case_config_error(base, ["--gin.BATCH_SIZE=0"], "BATCH_SIZE")
    table["mesh the devices cannot fill"] = lambda base, trial: case_config_error(
        base, ["--gin.partitioning.MeshConfig.fsdp=3"], "cannot fill", devices=8)
    table["batch not divisible by data×fsdp"] = lambda base, trial: case_config_error(
        base, ["--gin.BATCH_SIZE=6"], "not divisible", devices=4)
    table["batch not divisible by microbatches"] = lambda base, trial: case_config_error(
        base, ["--gin.train.train.num_microbatches=3"], "num_microbatches")
    table["misspelt gin parameter"] = lambda base, trial: case_config_error(
        base, ["--gin.train.train.bach_size=4"], "gin:")
    table["misspelt gin macro"] = lambda base, trial: case_config_error(base, ["--gin.TRAIN_STEPZ=4"], "TRAIN_STEPS")
    table["unquoted gin string"] = lambda base, trial: case_config_error(
        base, [f"--gin.MODEL_DIR={base}/x"], "quotes")
    table["missing gin file"] = lambda base, trial: case_config_error(base, ["--gin_file=nope.gin"], "nope.gin")
    table["MODEL_DIR is a file"] = lambda base, trial: (base.mkdir(exist_ok=True), (base / "f").write_text(""),
                                                        case_config_error(base, [f"--gin.MODEL_DIR='{base}/f'"],
                                                                          "MODEL_DIR"))[-1]
    table["resume with another model width"] = lambda base, trial: case_config_error(
        base, ["--gin.network.TransformerConfig.emb_dim=32", "--gin.TRAIN_STEPS=4"], "does not fit", resume_first=True)
    table["re-bake tokens with another codec step"] = lambda base, trial: case_rebake(base)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--trials", type=int, default=1, help="trials per case (kill -9 cases use 3 by default)")
    args = parser.parse_args(argv)
    selected = {name: case for name, case in cases().items() if not args.only or args.only in name}
    if not selected:
        print(f"error: --only {args.only!r} matches no case", file=sys.stderr)
        return 2
    rows, failures = [], 0
    with tempfile.TemporaryDirectory(prefix="mt_music_faults_") as root:
        REFERENCE_DIR.append(pathlib.Path(root))
        for name, case in selected.items():
            trials = max(args.trials, 3) if "kill -9" in name else args.trials
            outcomes, survived = [], 0
            for trial in range(trials):
                base = pathlib.Path(root) / f"{len(rows)}_{trial}" / "case"
                base.mkdir(parents=True)
                started = time.perf_counter()
                try:
                    outcomes.append(case(base, trial))
                    survived += 1
                except (Failed, subprocess.TimeoutExpired, StopIteration) as error:
                    outcomes.append(f"FAILED: {error}")
                print(f"  {name} [{trial + 1}/{trials}] {time.perf_counter() - started:.0f} s: {outcomes[-1]}",
                      flush=True)
            failures += trials - survived
            rows.append((name, f"{survived}/{trials}", outcomes[-1] if survived == trials else
                         next(o for o in outcomes if o.startswith("FAILED"))))
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'case':<{width}}  survived  outcome")
    for name, survived, outcome in rows:
        print(f"{name:<{width}}  {survived:<8}  {outcome}")
    print(f"\n{len(rows)} cases, {failures} failed trials")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
