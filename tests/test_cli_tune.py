"""``adatune tune`` / ``adatune best`` end to end, including a killed and resumed run, and
the CLI's logs applied from library tasks (workload keys with defaults filled in)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ADATUNE = [sys.executable, "-m", "adatune.cli"]


def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _tune(log, trials, *extra, timeout=300, args="32,32,32"):
    cmd = ADATUNE + ["tune", "--template", "dense", "--args", args, "--trials", str(trials),
                     "--log", str(log), "--n-parallel", "2", "--seed", "0", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_tune_writes_log_and_summary_and_best_reads_it(tmp_path):
    log = tmp_path / "dense.log"
    out = _tune(log, 6, "--tuner", "random", "--check-correctness")
    assert out.returncode == 0, out.stderr
    assert "best GFLOPS" in out.stdout and "failed trials" in out.stdout
    records = _lines(log)
    assert len(records) == 6
    assert all(r["result"][1] == 0 for r in records)
    assert records[0]["input"][1] == "dense" and records[0]["version"] == 0.2
    best = subprocess.run(ADATUNE + ["best", str(log)], capture_output=True, text=True)
    assert best.returncode == 0 and "dense" in best.stdout and "ms" in best.stdout


def test_killed_run_resumes_without_remeasuring(tmp_path):
    log = tmp_path / "killed.log"
    cmd = ADATUNE + ["tune", "--template", "dense", "--args", "32,32,32", "--trials", "200",
                     "--log", str(log), "--n-parallel", "2", "--tuner", "random", "--seed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if log.exists() and len(_lines(log)) >= 4:
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = _lines(log)
    assert len(before) >= 4
    done = {r["config"]["index"] for r in before}
    out = _tune(log, len(before) + 4, "--tuner", "random")
    assert out.returncode == 0, out.stderr
    after = _lines(log)
    assert after[:len(before)] == before  # nothing finished was lost or rewritten
    new = [r["config"]["index"] for r in after[len(before):]]
    assert len(new) == 4 and not done & set(new)  # no config measured twice
    assert f"4 / {len(before)}" in out.stdout


def _logged_best(path):
    """(index, mean cost) of the fastest successful line, read without adatune."""
    best = None
    for line in _lines(path):
        costs, error_no = line["result"][0], line["result"][1]
        if error_no == 0:
            cost = sum(costs) / len(costs)
            if best is None or cost < best[1]:
                best = (line["config"]["index"], cost)
    return best


@pytest.mark.parametrize("cli_args, lib_args", [
    ("32,32,32", (32, 32, 32, "float32")),        # the CLI leaves dtype to its default
    ("32,32,32,float32", (32, 32, 32)),           # the library does
])
def test_cli_log_applies_to_the_library_task_however_the_default_is_spelled(
        tmp_path, cli_args, lib_args):
    import adatune

    log = tmp_path / "dense.log"
    out = _tune(log, 4, "--tuner", "random", args=cli_args)
    assert out.returncode == 0, out.stderr
    index, cost = _logged_best(log)
    task = adatune.task.create("dense", lib_args)
    with adatune.apply_best(str(log)) as best:
        record = best.record_for(task)
        assert task.best_config().index == index
    assert record.mean_cost == pytest.approx(cost, rel=1e-12)
    assert all(line["input"][2] == [32, 32, 32, "float32"] for line in _lines(log))


def test_several_tasks_share_one_budget_and_resume_from_one_log(tmp_path):
    log = tmp_path / "tasks.log"

    def run(trials):
        return subprocess.run(ADATUNE + ["tune", "--task", "dense:32,32,32", "--task", "dense:16,48,32",
                                         "--trials", str(trials), "--log", str(log), "--tuner", "random",
                                         "--seed", "0", "--n-parallel", "2"],
                              capture_output=True, text=True, timeout=300)

    first = run(12)
    assert first.returncode == 0, first.stderr
    records = _lines(log)
    shapes = [tuple(r["input"][2][:3]) for r in records]
    assert len(records) == 12 and set(shapes) == {(32, 32, 32), (16, 48, 32)}
    assert first.stdout.count("best GFLOPS") == 2 and "dense(16,48,32" in first.stdout
    second = run(20)  # resumes: 8 more, none of the first 12 measured again
    assert second.returncode == 0, second.stderr
    records = _lines(log)
    keys = [(tuple(r["input"][2][:3]), r["config"]["index"]) for r in records]
    assert len(records) == 20 and len(set(keys)) == 20
    counts = [line.split()[-3:] for line in second.stdout.splitlines() if "trials (this run / resumed)" in line]
    assert len(counts) == 2
    assert sum(int(c[0]) for c in counts) == 8 and sum(int(c[2]) for c in counts) == 12


@pytest.mark.parametrize("argv, message", [
    (["tune", "--template", "nope", "--args", "1"], "no template named 'nope'"),
    (["tune", "--template", "dense", "--args", "32,,32"], "empty item"),
    (["tune", "--template", "dense", "--args", "32,32,32", "--trials", "0"], "--trials"),
    (["tune", "--template", "dense", "--args", "32,32,32", "--tuner", "magic"], "unknown tuner"),
    (["tune", "--template", "dense", "--args", "32,32,32", "--tracker", "localhost",
      "--key", "k"], "host:port"),
    (["tune", "--task", "dense"], "expected template:args"),
    (["tune", "--task", "dense:32,32,32", "--template", "dense"], "not both"),
    (["tune", "--template", "dense"], "give --template and --args"),
    (["tune", "--task", "dense:32,32,32", "--task", "dense:32,32,32"], "repeats tasks[0]"),
    (["best", "/nonexistent/x.log"], "no such file"),
])
def test_bad_input_gives_a_clear_error(argv, message):
    out = subprocess.run(ADATUNE + argv, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
