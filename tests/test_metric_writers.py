"""metrics.jsonl: durable line by line, and a resumed run continues it without duplicate steps."""

import json
import subprocess
import sys

from mt_music.training import metric_writers


def _steps(path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if '"step"' in line]


def test_every_line_is_on_disk_when_written_even_if_the_process_is_killed(tmp_path):
    code = ("import os, sys\nfrom mt_music.training import metric_writers\n"
            "writer = metric_writers.JsonLinesWriter(sys.argv[1], log=False)\n"
            "for step in range(1, 30):\n    writer.write_scalars(step, {'loss': 1.0 / step})\n"
            "os.kill(os.getpid(), 9)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == -9
    assert _steps(tmp_path / metric_writers.METRICS_FILE) == list(range(1, 30))


def test_a_resume_drops_the_steps_it_runs_again_and_a_torn_last_line(tmp_path):
    writer = metric_writers.JsonLinesWriter(tmp_path, log=False)
    writer.write_hparams({"batch_size": 8})
    for step in range(1, 11):
        writer.write_scalars(step, {"loss": 1.0})
    writer.close()
    path = tmp_path / metric_writers.METRICS_FILE
    with open(path, "a") as f:
        f.write('{"step": 11, "lo')  # killed in the middle of a write
    resumed = metric_writers.JsonLinesWriter(tmp_path, log=False, resume_step=6)  # the last checkpoint: step 6
    for step in range(7, 13):
        resumed.write_scalars(step, {"loss": 0.5})
    resumed.close()
    assert _steps(path) == list(range(1, 13))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0] == {"hparams": {"batch_size": 8}}
    assert [r["loss"] for r in records[1:]] == [1.0] * 6 + [0.5] * 6


def test_a_fresh_start_keeps_nothing_of_an_earlier_attempt_without_checkpoint(tmp_path):
    writer = metric_writers.JsonLinesWriter(tmp_path, log=False)
    writer.write_scalars(5, {"loss": 2.0})
    writer.close()
    metric_writers.JsonLinesWriter(tmp_path, log=False, resume_step=0).close()
    assert _steps(tmp_path / metric_writers.METRICS_FILE) == []
