"""The one training loop (fields.run.loop): what its budget counts, its cadence, the non-finite guard, and stopping
on a signal with a checkpoint written first."""
import os
import signal
import time

import pytest
import torch

from fields.run import Budget, Cadence, Interrupted, RunFolder, train_loop


class FakeTask:
    """Counts calls; each step and each validation take a set time."""

    def __init__(self, step_seconds=0.0, val_seconds=0.0, bad_from=None, on_step=None):
        self.step, self.elapsed = 0, 0.0
        self.step_seconds, self.val_seconds, self.bad_from, self.on_step = step_seconds, val_seconds, bad_from, on_step
        self.saved_at, self.validations = [], 0

    def train_step(self):
        time.sleep(self.step_seconds)
        self.step += 1
        if self.on_step is not None:
            self.on_step(self)
        if self.bad_from is not None and self.step >= self.bad_from:
            return {"bad": True}
        return {"loss": 1.0 / self.step, "psnr": 10.0}

    def validate(self):
        self.validations += 1
        time.sleep(self.val_seconds)
        return {"val_psnr": 20.0}

    def save(self):
        self.saved_at.append(self.step)


def test_step_budget_runs_exactly_and_saves_at_the_end(tmp_path):
    task = FakeTask()
    train_loop(task, Budget(25, None), Cadence(log_every=10, val_every=10, save_every=None), RunFolder(tmp_path),
               progress_bar=False)
    assert task.step == 25 and task.validations == 2 and task.saved_at == [25]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4  # two logged steps, two validations


def test_time_budget_counts_validation(tmp_path):
    """--max-time is wall-clock time: validation renders are spent from it."""
    task = FakeTask(step_seconds=0.01, val_seconds=0.3)
    began = time.perf_counter()
    result = train_loop(task, Budget(None, 0.5), Cadence(val_every=5, save_every=None), None, progress_bar=False)
    wall = time.perf_counter() - began
    assert wall < 1.2, wall  # without counting validation it would run 0.5 s of steps plus every validation
    assert task.elapsed == pytest.approx(wall, abs=0.15)
    assert result.val_seconds >= 0.3 and task.validations >= 1


def test_checkpoints_follow_a_wall_clock_cadence():
    task = FakeTask(step_seconds=0.02)
    train_loop(task, Budget(40, None), Cadence(save_every=None, save_interval=0.2), None, progress_bar=False)
    assert 2 <= len(task.saved_at) - 1 <= 6, task.saved_at  # every ~10 steps, then the final save


def test_consecutive_non_finite_steps_stop_the_run_without_saving():
    task = FakeTask(bad_from=3)
    with pytest.warns(UserWarning, match="non-finite"), pytest.raises(RuntimeError, match="non-finite"):
        train_loop(task, Budget(1000, None), Cadence(save_every=None), None, progress_bar=False)
    assert task.saved_at == [] and task.step == 2 + 50


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_finishes_the_step_then_saves_and_raises(tmp_path, signum):
    def send_at_step_5(task):
        if task.step == 5:
            os.kill(os.getpid(), signum)

    task = FakeTask(on_step=send_at_step_5)
    with pytest.raises(Interrupted) as stopped:
        train_loop(task, Budget(1000, None), Cadence(save_every=None), RunFolder(tmp_path), progress_bar=False)
    assert stopped.value.signum == signum and stopped.value.exit_code == 128 + signum
    assert task.saved_at == [5] and "step 5" in stopped.value.note and "--resume" in stopped.value.note
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored after the loop


def test_a_stop_before_the_first_step_saves_nothing():
    class StopsAtOnce(FakeTask):
        def train_step(self):
            raise KeyboardInterrupt

    task = StopsAtOnce()
    with pytest.raises(KeyboardInterrupt) as stopped:
        train_loop(task, Budget(10, None), Cadence(), None, progress_bar=False)
    assert task.saved_at == [] and "nothing saved" in stopped.value.note


def test_budget_progress_is_the_larger_fraction():
    budget = Budget(100, 10.0)
    assert budget.progress(50, 2.0) == 0.5 and budget.progress(10, 8.0) == 0.8
    assert budget.spent(100, 0.0) and budget.spent(0, 10.0) and not budget.spent(99, 9.9)
    assert Budget.default(None, None, torch.device("cpu")).to_json() == {"max_steps": 20000, "max_time": 600.0}
    assert Budget.default(None, 30.0, torch.device("cpu"), 2000).to_json() == {"max_steps": 2000, "max_time": 30.0}
