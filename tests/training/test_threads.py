import subprocess
import sys
import time

import pytest
import torch

from mde_pyg.errors import ConfigError
from mde_pyg.pipeline import compose_config, train_one
from mde_pyg.training import threads as threads_module
from mde_pyg.training.threads import (
    CpuShare,
    ThreadBudget,
    check_threads,
    free_threads,
)


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("value", [0, -2, "many", 1.5, True])
def test_check_threads_rejects_what_is_not_auto_or_a_positive_count(value):
    with pytest.raises(ConfigError, match=r"trainer\.threads="):
        check_threads(value)


@pytest.mark.parametrize("value", [None, "auto", 1, 3])
def test_check_threads_accepts_auto_none_and_counts(value):
    assert check_threads(value) == value


@pytest.mark.parametrize(
    ("limit", "others", "cores", "expected"),
    [
        (2, 0.0, 2, 2),  # idle machine: every core
        (2, 0.1, 2, 2),  # background noise is no busy core
        (2, 1.0, 2, 1),  # one busy process on two cores
        (2, 0.6, 2, 1),  # more than half a core taken
        (2, 2.0, 2, 1),  # all taken: still one thread
        (4, 1.0, 8, 4),  # never above what torch started with
    ],
)
def test_free_threads_uses_the_cores_the_others_leave(limit, others, cores, expected):
    assert free_threads(limit, others, cores) == expected


def _stat_line(busy: int, idle: int) -> str:
    # user nice system idle iowait irq softirq steal guest guest_nice
    return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"


def test_cpu_share_subtracts_this_process_from_the_machine_busy_time(
    tmp_path, monkeypatch
):
    stat = tmp_path / "stat"
    stat.write_text(_stat_line(busy=1000, idle=5000))
    clock = iter([10.0, 12.0])
    own = iter([(3.0, 1.0), (4.0, 1.5)])  # this process: 1.5 s in the window
    monkeypatch.setattr(threads_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(
        threads_module.os,
        "times",
        lambda: type("T", (), dict(zip(("user", "system"), next(own)))),
    )
    monkeypatch.setattr(threads_module.os, "sysconf", lambda name: 100)
    share = CpuShare(stat)
    # 350 ticks = 3.5 s busy over 2 s, 1.5 s of it ours: 1 core of others.
    stat.write_text(_stat_line(busy=1350, idle=5050))
    assert share.others() == pytest.approx(1.0)


def test_cpu_share_is_unknown_without_counters(tmp_path):
    share = CpuShare(tmp_path / "missing")
    time.sleep(threads_module.MIN_WINDOW_S)
    assert share.others() is None


@pytest.mark.skipif(not threads_module.PROC_STAT.is_file(), reason="Linux counters")
def test_cpu_share_sees_a_busy_process():
    share = CpuShare()
    busy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass",
        ]
    )
    busy.wait()
    assert share.others() > 0.5


class _Share:
    def __init__(self, values):
        self.values = iter(values)

    def others(self, wait_for=0.0):
        return next(self.values)


def test_thread_budget_follows_the_free_cores_and_restores_torch_threads():
    torch.set_num_threads(2)
    budget = ThreadBudget("auto", share=_Share([1.0, 0.0, None]), cores=2)
    budget.on_fit_start(None)
    assert torch.get_num_threads() == 1
    budget.on_epoch_end(None, {}, False)
    assert torch.get_num_threads() == 2
    budget.on_epoch_end(None, {}, False)  # unknown: left as it is
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    budget.on_fit_end(None, None)
    assert torch.get_num_threads() == 2


def test_thread_budget_fixed_count():
    torch.set_num_threads(2)
    budget = ThreadBudget(1)
    budget.on_fit_start(None)
    assert torch.get_num_threads() == 1
    assert repr(budget) == "ThreadBudget(threads=1)"


def _main_job(threads, folder):
    """Two epochs of the main job (MDE on the built-in data: large enough
    for torch to split its kernels over threads)."""
    cfg = compose_config(
        [
            "trainer.max_epochs=2",
            f"trainer.threads={threads}",
            "trainer.device=cpu",
            "checkpoint=false",
            f"output_dir={folder}",
        ]
    )
    return train_one(cfg, 0, folder)


def test_results_do_not_depend_on_the_thread_count(tmp_path):
    one = _main_job(1, tmp_path / "one")
    two = _main_job(2, tmp_path / "two")
    assert [h["threads"] for h in one.history] == [1] * len(one.history)
    assert [h["threads"] for h in two.history] == [2] * len(two.history)
    assert [h["loss"] for h in one.history] == [h["loss"] for h in two.history]
    assert one.test == two.test


def test_cpu_share_waits_for_the_rest_of_its_window_only():
    start = time.monotonic()
    share = CpuShare()
    time.sleep(0.3)
    share.others(wait_for=0.35)
    # The window counts from construction: 0.35 s in all, not 0.3 + 0.35.
    assert 0.35 <= time.monotonic() - start < 0.6
