"""The accuracy runner selects on validation only, schedules seeds after the
grid, resumes from its run files and reports MDE against the best baseline."""

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def accuracy():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(
        "accuracy", BENCHMARKS / "accuracy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["accuracy"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["accuracy"]
    sys.path.remove(str(BENCHMARKS))


def record(model, setting, seed, val, test, dataset="d"):
    metrics = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
    return {
        "dataset": dataset,
        "model": model,
        "setting": list(setting),
        "seed": seed,
        "val": {"recall@20": val},
        "test": dict.fromkeys(metrics, test),
        "best_epoch": 3,
        "mean_epoch_time": 0.1,
        "device": "cpu",
    }


def test_setting_is_chosen_on_validation_never_test(accuracy):
    points = [("model.reg_weight=0.0001",), ("model.reg_weight=0.001",)]
    runs = [
        record("lightgcn", points[0], 0, val=0.30, test=0.10),
        record("lightgcn", points[1], 0, val=0.20, test=0.90),
    ]
    assert accuracy.chosen_setting(runs, "d", "lightgcn", points) == points[0]
    # A run of another seed or dataset does not count.
    runs.append(record("lightgcn", points[1], 1, val=0.99, test=0.99))
    runs.append(record("lightgcn", points[1], 0, val=0.99, test=0.99, dataset="e"))
    assert accuracy.chosen_setting(runs, "d", "lightgcn", points) == points[0]
    # Incomplete grid: nothing chosen yet.
    assert accuracy.chosen_setting(runs[:1], "d", "lightgcn", points) is None


def test_seeds_are_scheduled_after_the_grid(accuracy, tmp_path):
    args = SimpleNamespace(
        datasets=["d"], models=["lightgcn"], seeds=[0, 1, 2], no_grid=False
    )
    points = accuracy.grid("lightgcn", True)
    assert len(points) == len(accuracy.GRIDS["lightgcn"]["model.reg_weight"])
    todo = accuracy.pending(args, tmp_path)
    assert {r.seed for r in todo} == {0} and len(todo) == len(points)

    for point, val in zip(points, (0.1, 0.3)):
        run = accuracy.Run("d", "lightgcn", point, 0)
        run.path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        accuracy.save(run.path(tmp_path), record("lightgcn", point, 0, val, 0.0))
    todo = accuracy.pending(args, tmp_path)
    assert [(r.setting, r.seed) for r in todo] == [(points[1], 1), (points[1], 2)]


def test_idle_worker_waits_for_the_seeds_a_running_grid_unlocks(
    accuracy, tmp_path, monkeypatch
):
    args = SimpleNamespace(
        datasets=["d"], models=["lightgcn"], seeds=[0, 1, 2], no_grid=False
    )
    first, second = accuracy.grid("lightgcn", True)
    done = accuracy.Run("d", "lightgcn", first, 0).path(tmp_path)
    done.parent.mkdir(parents=True)
    accuracy.save(done, record("lightgcn", first, 0, 0.1, 0.0))
    # The other grid point is being trained by a live worker (this process).
    running = accuracy.Run("d", "lightgcn", second, 0).path(tmp_path)
    running.with_suffix(".lock").write_text(str(os.getpid()))

    waits = []

    def other_worker_finishes(seconds):
        waits.append(seconds)
        accuracy.save(running, record("lightgcn", second, 0, 0.3, 0.0))
        running.with_suffix(".lock").unlink()

    executed = []

    def fake_execute(run, datasets, args):
        executed.append(run)
        return {**record(run.model, run.setting, run.seed, 0.2, 0.0), "epochs_run": 9}

    monkeypatch.setattr(accuracy.time, "sleep", other_worker_finishes)
    monkeypatch.setattr(accuracy, "execute", fake_execute)
    accuracy.work(args, {}, tmp_path, poll_s=5.0)
    assert waits == [5.0]
    assert [(r.setting, r.seed) for r in executed] == [(second, 1), (second, 2)]
    assert not list(tmp_path.rglob("*.lock"))


def test_comparison_against_the_best_validation_baseline(accuracy):
    rows = []
    for model, val, tests in (
        ("lightgcn", 0.30, [0.10, 0.11, 0.12]),
        ("lattice", 0.20, [0.50, 0.50, 0.51]),  # best test, worse validation
        ("mde", 0.31, [0.13, 0.14, 0.15]),
        ("mde_paper", 0.29, [0.11, 0.11, 0.11]),
    ):
        runs = [record(model, (), s, val, t) for s, t in enumerate(tests)]
        args = SimpleNamespace(datasets=["d"], models=[model], seeds=[0, 1, 2])
        args.no_grid = True
        rows += accuracy.summary_rows(runs, args)
    gain, paper = accuracy.comparison(rows)
    assert (gain["model"], paper["model"]) == ("mde", "mde_paper")
    assert gain["baseline"] == paper["baseline"] == "lightgcn"
    assert paper["recall@20 gain %"] == pytest.approx(0.0)
    assert gain["recall@20 gain %"] == pytest.approx(100 * (0.14 - 0.11) / 0.11)
    assert 0 < gain["recall@20 p"] < 0.05


@pytest.mark.parametrize(
    "p, shown", [(0.0004, "< 0.001"), (0.0123, "0.012"), (float("nan"), "-")]
)
def test_p_values_below_the_shown_precision_are_bounded(accuracy, p, shown):
    assert accuracy.p_value(p) == shown


def test_quick_suite_runs_and_resumes(accuracy, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--quick", "--models", "lightgcn", "--seeds", "0", "1"]
    argv += ["--out", str(out), "--work-dir", str(work)]
    accuracy.main([*argv, "--worker"])
    files = sorted((out / "runs").rglob("*.json"))
    # Two grid points with seed 0, then seed 1 of the chosen one.
    assert len(files) == 3
    stamps = {f: f.stat().st_mtime_ns for f in files}
    accuracy.main([*argv, "--worker"])
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    accuracy.main([*argv, "--report-only", "--report-name", "quick"])
    report = (out / "quick.md").read_text()
    assert "| synthetic | lightgcn |" in report
    assert "- Compute: 3 runs, " in report
    assert (out / "quick.png").stat().st_size > 0
    assert (out / "quick.csv").read_text().count("\n") == 2  # header + 1 row
    result = json.loads(files[0].read_text())
    assert result["val"]["recall@20"] > 0


def test_unknown_dataset_is_a_clear_error(accuracy, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        accuracy.main(["--datasets", "babby", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "unknown datasets ['babby']" in message
    assert "'baby'" in message and "'ml100k'" in message


def test_record_names_still_select_their_configs(accuracy):
    # The records keep the names they were made with: a study candidate's
    # former conf/model name, MGCN's cl_loss, FREEDOM's reg_weight.
    args = SimpleNamespace(max_epochs=1, device="cpu")
    datasets = {"d": accuracy.DatasetSpec(("dataset=synthetic",), 1, "")}
    study = accuracy.Run("d", "mde_no_diff", (), 0)
    assert "study=no_enhancement" in accuracy.overrides_of(study, datasets, args)
    for model, point, key in [
        ("mgcn", ("model.cl_loss=0.1",), "model.lambda_align=0.1"),
        ("freedom", ("model.reg_weight=0.001",), "model.lambda_modality_bpr=0.001"),
        ("lightgcn", ("model.reg_weight=0.001",), "model.reg_weight=0.001"),
    ]:
        assert point[0].split("=")[0] in accuracy.GRIDS[model]
        run = accuracy.Run("d", model, point, 0)
        assert key in accuracy.overrides_of(run, datasets, args)
        assert accuracy.tag(point) in str(run.path(Path(".")))


def test_every_study_config_has_its_record_name(accuracy):
    studies = Path(__file__).resolve().parents[2] / "conf" / "study"
    names = {p.stem for p in studies.glob("*.yaml")}
    assert set(accuracy.STUDY_CONFIGS.values()) == names
