"""The accuracy runner reads its grids from ``conf/experiment``, selects on
validation only, schedules seeds after the grid, resumes from its run files
and reports MDE against the best baseline."""

import csv
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

#: A two-point grid, whatever the suite's grid in conf/experiment is.
GRID = {"model.reg_weight": [1e-4, 1e-3]}


@pytest.fixture(scope="module")
def accuracy(bench):
    return bench("accuracy")


@pytest.fixture(scope="module")
def runner(bench):
    return bench("runner")


@pytest.fixture
def two_points(accuracy, monkeypatch):
    monkeypatch.setattr(accuracy, "grid_axes", lambda model: GRID)
    return accuracy.grid("lightgcn", True)


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


def test_grid_is_read_from_the_sweep_params_of_an_experiment(accuracy, tmp_path):
    path = tmp_path / "x_suite.yaml"
    path.write_text(
        "# @package _global_\n"
        "hydra:\n  sweeper:\n    params:\n"
        "      model.reg_weight: 0.0,1e-5\n"
        "      model.num_layers: 1, 2\n"
        "      model.encoder: id_purify,feature_mlp\n"
    )
    axes = accuracy.read_grid(path)
    assert axes == {
        "model.reg_weight": [0.0, 1e-5],
        "model.num_layers": [1, 2],
        "model.encoder": ["id_purify", "feature_mlp"],
    }
    # The settings are spelt as the committed run files name them.
    assert [str(v) for v in axes["model.reg_weight"]] == ["0.0", "1e-05"]


def test_a_model_without_a_grid_has_one_default_point(accuracy):
    assert accuracy.grid("no_such_model", True) == [()]
    assert accuracy.grid("lightgcn", False) == [()]
    assert accuracy.tag(()) == "default"


def test_seeds_are_scheduled_after_the_grid(accuracy, runner, two_points, tmp_path):
    args = SimpleNamespace(
        datasets=["d"], models=["lightgcn"], seeds=[0, 1, 2], no_grid=False
    )
    points = two_points
    todo = accuracy.pending(args, tmp_path)
    assert {r.seed for r in todo} == {0} and len(todo) == len(points)

    for point, val in zip(points, (0.1, 0.3)):
        run = accuracy.Run("d", "lightgcn", point, 0)
        run.path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        runner.save(run.path(tmp_path), record("lightgcn", point, 0, val, 0.0))
    todo = accuracy.pending(args, tmp_path)
    assert [(r.setting, r.seed) for r in todo] == [(points[1], 1), (points[1], 2)]


def test_capability_data_gets_three_seeds_unless_seeds_are_given(
    accuracy, runner, tmp_path
):
    args = SimpleNamespace(
        datasets=["capability", "ml100k"],
        models=["lightgcn"],
        seeds=None,
        quick=False,
        no_grid=True,
    )
    for dataset in args.datasets:
        run = accuracy.Run(dataset, "lightgcn", (), 0)
        run.path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        runner.save(run.path(tmp_path), record("lightgcn", (), 0, 0.2, 0.0, dataset))
    todo = accuracy.pending(args, tmp_path)
    assert [(r.dataset, r.seed) for r in todo] == [
        ("capability", 1),
        ("capability", 2),
        ("ml100k", 1),
        ("ml100k", 2),
        ("ml100k", 3),
        ("ml100k", 4),
    ]
    args.seeds = [0, 7]
    assert [(r.dataset, r.seed) for r in accuracy.pending(args, tmp_path)] == [
        ("capability", 7),
        ("ml100k", 7),
    ]


def test_idle_worker_waits_for_the_seeds_a_running_grid_unlocks(
    accuracy, runner, two_points, tmp_path, monkeypatch
):
    args = SimpleNamespace(
        datasets=["d"], models=["lightgcn"], seeds=[0, 1, 2], no_grid=False
    )
    first, second = two_points
    done = accuracy.Run("d", "lightgcn", first, 0).path(tmp_path)
    done.parent.mkdir(parents=True)
    runner.save(done, record("lightgcn", first, 0, 0.1, 0.0))
    # The other grid point is being trained by a live worker (this process).
    running = accuracy.Run("d", "lightgcn", second, 0).path(tmp_path)
    running.with_suffix(".lock").write_text(str(os.getpid()))

    waits = []

    def other_worker_finishes(seconds):
        waits.append(seconds)
        runner.save(running, record("lightgcn", second, 0, 0.3, 0.0))
        running.with_suffix(".lock").unlink()

    executed = []

    def fake_execute(run, args):
        executed.append(run)
        return {**record(run.model, run.setting, run.seed, 0.2, 0.0), "epochs_run": 9}

    monkeypatch.setattr(runner.time, "sleep", other_worker_finishes)
    monkeypatch.setattr(runner, "execute", fake_execute)
    runner.work(args, tmp_path, accuracy.pending, poll_s=5.0)
    assert waits == [5.0]
    assert [(r.setting, r.seed) for r in executed] == [(second, 1), (second, 2)]
    assert not list(tmp_path.rglob("*.lock"))


def summary(accuracy, table):
    rows = []
    for model, vals, tests in table:
        runs = [record(model, (), s, v, t) for s, (v, t) in enumerate(zip(vals, tests))]
        args = SimpleNamespace(datasets=["d"], models=[model], seeds=[0, 1, 2])
        args.no_grid = True
        rows += accuracy.summary_rows(runs, args)
    return rows


def test_comparison_against_the_best_validation_baseline(accuracy):
    rows = summary(
        accuracy,
        (
            ("lightgcn", [0.30] * 3, [0.10, 0.11, 0.12]),
            ("lattice", [0.20] * 3, [0.50, 0.50, 0.51]),  # best test, worse val
            ("mde", [0.31] * 3, [0.13, 0.14, 0.15]),
            ("mde_paper", [0.29] * 3, [0.11, 0.11, 0.11]),
        ),
    )
    # A baseline still running its seeds (here one of three) is no baseline.
    running = [record("lgmrec", (), 0, 0.40, 0.60)]
    args = SimpleNamespace(datasets=["d"], models=["lgmrec"], seeds=[0, 1, 2])
    args.no_grid = True
    rows += accuracy.summary_rows(running, args)
    gain, paper = accuracy.comparison(rows)
    assert (gain["model"], paper["model"]) == ("mde", "mde_paper")
    assert gain["baseline"] == paper["baseline"] == "lightgcn"
    assert paper["recall@20 gain %"] == pytest.approx(0.0)
    assert gain["recall@20 gain %"] == pytest.approx(100 * (0.14 - 0.11) / 0.11)
    assert 0 < gain["recall@20 p"] < 0.05
    assert gain["val gain %"] == pytest.approx(100 * (0.31 - 0.30) / 0.30)
    assert gain["best_on_val"] and paper["best_on_val"]


def test_mde_is_also_compared_with_the_baseline_it_extends(accuracy):
    rows = summary(
        accuracy,
        (
            ("lgmrec", [0.40, 0.41, 0.42], [0.20, 0.21, 0.22]),
            ("mgcn", [0.30, 0.31, 0.32], [0.30, 0.30, 0.30]),
            ("mde", [0.33, 0.34, 0.35], [0.10, 0.11, 0.12]),
        ),
    )
    best, extended = accuracy.comparison(rows)
    assert (best["baseline"], best["best_on_val"]) == ("lgmrec", True)
    assert (extended["baseline"], extended["best_on_val"]) == (accuracy.EXTENDS, False)
    assert extended["val gain %"] == pytest.approx(100 * (0.34 - 0.31) / 0.31)
    assert extended["recall@20 gain %"] == pytest.approx(100 * (0.11 - 0.30) / 0.30)
    # Where the extended baseline is also the best one, it is compared once.
    only = accuracy.comparison([r for r in rows if r["model"] != "lgmrec"])
    assert [(g["baseline"], g["best_on_val"]) for g in only] == [("mgcn", True)]


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
    assert "'baby_text'" in message and "'ml100k'" in message


def test_record_names_still_select_their_configs(accuracy, runner):
    # The records keep the names they were made with: a study candidate's
    # former conf/model name, MGCN's cl_loss, FREEDOM's reg_weight.
    args = SimpleNamespace(caps={"synthetic": 1}, device="cpu", quick=False)
    study = runner.Run("synthetic", "mde_no_diff", (), 0)
    assert "study=no_enhancement" in runner.overrides_of(study, args)
    for model, key, current in [
        ("mgcn", "model.cl_loss", "model.lambda_align"),
        ("freedom", "model.reg_weight", "model.lambda_modality_bpr"),
        ("lightgcn", "model.reg_weight", "model.reg_weight"),
    ]:
        point = next(p for p in accuracy.grid(model, True) if key in p[-1])
        value = point[-1].split("=")[1]
        run = runner.Run("synthetic", model, point, 0)
        assert f"{current}={value}" in runner.overrides_of(run, args)
        assert f"{key.split('.')[1]}-{value}" in str(run.path(Path(".")))


def test_every_study_config_has_its_record_name(runner):
    studies = Path(__file__).resolve().parents[2] / "conf" / "study"
    names = {p.stem for p in studies.glob("*.yaml")}
    assert set(runner.STUDY_CONFIGS.values()) == names


def test_a_report_covers_every_run_in_the_folder_not_only_this_jobs(
    accuracy, runner, tmp_path
):
    for dataset, model in (
        ("ml100k", "vbpr"),
        ("ml100k", "mde"),
        ("baby_text", "vbpr"),
    ):
        for seed in range(5):
            run = accuracy.Run(dataset, model, (), seed)
            run.path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
            record_ = {
                **record(model, (), seed, 0.2, 0.1 + seed / 100, dataset),
                "epochs_run": 9,
                "mean_eval_time": 0.01,
            }
            runner.save(run.path(tmp_path), record_)
    # A job over one model and one dataset, as a background job for the
    # missing rows runs, rewrites the whole report.
    argv = ["--report-only", "--no-grid", "--out", str(tmp_path)]
    accuracy.main([*argv, "--datasets", "ml100k", "--models", "vbpr"])
    with open(tmp_path / "accuracy.csv", newline="") as f:
        shown = [(r["dataset"], r["model"]) for r in csv.DictReader(f)]
    # Datasets and models in the suite's order.
    assert shown == [("ml100k", "vbpr"), ("ml100k", "mde"), ("baby_text", "vbpr")]
    report = (tmp_path / "accuracy.md").read_text()
    assert "epoch cap 150" in report and "| ml100k | mde | vbpr * |" in report
