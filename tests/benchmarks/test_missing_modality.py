"""The missing-modality study derives ml100k with half its text removed,
schedules every (dataset, seed, model, rule), and proposes per model the
rule with the best validation rank."""

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mde_pyg.data import load_mmrec, make_synthetic, write_inter
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.errors import DatasetError
from mde_pyg.pipeline import compose_config


@pytest.fixture(scope="module")
def study(bench):
    return bench("missing_modality")


def write_source(folder, num_items=30):
    """A tiny prepared-ml100k-like folder: interactions, text and meta."""
    data = make_synthetic(num_users=40, num_items=num_items, interactions_per_user=6)
    index = [split_edge_index(data, s) for s in ("train", "val", "test")]
    pairs = torch.cat(index, dim=1)
    labels = torch.cat([i.new_full((i.size(1),), s) for s, i in enumerate(index)])
    folder.mkdir(parents=True)
    write_inter(folder / f"{folder.name}.inter", pairs[0], pairs[1], labels)
    np.save(folder / "text_feat.npy", data["item"].x_text.numpy())
    np.save(folder / "meta_feat.npy", data["item"].x_image.numpy())
    return data


def test_half_of_the_text_is_removed_reproducibly(study, tmp_path):
    source = tmp_path / "ml100k"
    data = write_source(source)
    target = study.derive_half_text(source, tmp_path / "ml100k_half_text")
    mask = np.load(target / "text_mask.npy")
    assert mask.dtype == bool and mask.shape == (30,) and mask.sum() == 15
    text = np.load(target / "text_feat.npy")
    original = data["item"].x_text.numpy()
    np.testing.assert_array_equal(text[mask], original[mask])
    np.testing.assert_allclose(
        text[~mask], np.broadcast_to(original[mask].mean(0), (15, 32)), rtol=1e-6
    )
    np.testing.assert_array_equal(
        np.load(target / "meta_feat.npy"), np.load(source / "meta_feat.npy")
    )
    loaded = load_mmrec(target, missing_features="zeros")
    assert loaded["item"].x_text_mask.tolist() == mask.tolist()
    assert (loaded["item"].x_text[~torch.from_numpy(mask)] == 0).all()
    # Up to date: nothing is rewritten; another seed is another half.
    stamp = (target / "text_mask.npy").stat().st_mtime_ns
    study.derive_half_text(source, target)
    assert (target / "text_mask.npy").stat().st_mtime_ns == stamp
    study.derive_half_text(source, target, seed=1)
    assert not np.array_equal(np.load(target / "text_mask.npy"), mask)


def test_items_missing_in_the_source_stay_missing(study, tmp_path):
    source = tmp_path / "ml100k"
    write_source(source)
    np.save(source / "text_mask.npy", np.arange(30) >= 2)
    mask = np.load(study.derive_half_text(source, tmp_path / "half") / "text_mask.npy")
    assert not mask[:2].any() and mask.sum() <= 15


def test_an_unprepared_source_says_how_to_prepare_it(study, tmp_path):
    with pytest.raises(DatasetError, match="mde-pyg prepare ml100k"):
        study.derive_half_text(tmp_path / "ml100k", tmp_path / "half")


def arguments(datasets=("baby", "ml100k_half_text")):
    return SimpleNamespace(
        datasets=list(datasets),
        models=["mgcn", "freedom"],
        rules=["mean", "zeros", "propagate"],
        seeds=[0, 1],
    )


def save(study, out, dataset, model, rule, seed, val, test=0.1):
    run = study.Run(dataset, model, study.setting(rule), seed)
    run.path(out).parent.mkdir(parents=True, exist_ok=True)
    metrics = {m: test for m in study.METRICS}
    run.path(out).write_text(
        json.dumps(
            {
                "dataset": dataset,
                "model": model,
                "setting": list(study.setting(rule)),
                "seed": seed,
                "device": "cpu",
                "best_epoch": 3,
                "epochs_run": 10,
                "stopped_early": True,
                "mean_epoch_time": 1.0,
                "val": {"recall@20": val},
                "test": metrics,
            }
        )
    )


def test_every_rule_of_every_model_is_scheduled_once(study, tmp_path):
    args = arguments()
    todo = study.pending(args, tmp_path)
    assert len(todo) == 2 * 2 * 2 * 3
    # Dataset by dataset, seed by seed: seed 0 of baby comes first.
    assert {(r.dataset, r.seed) for r in todo[:6]} == {("baby", 0)}
    assert todo[0].setting == ("dataset.missing_features=mean",)
    save(study, tmp_path, "baby", "mgcn", "zeros", 0, 0.1)
    assert len(study.pending(args, tmp_path)) == 23


def test_the_proposed_default_is_the_best_mean_validation_rank(study, tmp_path):
    args = arguments()
    vals = {
        # mgcn: propagate best on both; freedom: zeros on baby, mean on
        # ml100k, so mean and zeros tie on rank and mean (first) is kept.
        ("baby", "mgcn"): {"mean": 0.10, "zeros": 0.11, "propagate": 0.12},
        ("ml100k_half_text", "mgcn"): {"mean": 0.20, "zeros": 0.19, "propagate": 0.22},
        ("baby", "freedom"): {"mean": 0.10, "zeros": 0.12, "propagate": 0.08},
        ("ml100k_half_text", "freedom"): {
            "mean": 0.25,
            "zeros": 0.20,
            "propagate": 0.10,
        },
    }
    for (dataset, model), by_rule in vals.items():
        for rule, val in by_rule.items():
            for seed in args.seeds:
                save(study, tmp_path, dataset, model, rule, seed, val + seed * 1e-3)
    rows = study.results(study.load_runs(tmp_path), args)
    best = study.best_rules(rows, args)
    assert best[("baby", "freedom")] == "zeros"
    assert best[("ml100k_half_text", "freedom")] == "mean"
    chosen = study.chosen_defaults(rows, args)
    assert chosen["mgcn"][0] == "propagate" and chosen["mgcn"][1]["propagate"] == 1.0
    assert chosen["freedom"][0] == "mean"
    assert chosen["freedom"][1]["mean"] == chosen["freedom"][1]["zeros"] == 1.5

    report = SimpleNamespace(
        **vars(args),
        threads=1,
        title="t",
        report_name="missing_modality",
        command="python benchmarks/missing_modality.py",
        quick=False,
        caps={"baby": 150, "ml100k_half_text": 400},
    )
    study.write_report(report, tmp_path)
    with open(tmp_path / "missing_modality.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 12
    chosen_rows = [
        (r["dataset"], r["model"]) for r in table if r["best_on_val"] == "True"
    ]
    assert len(chosen_rows) == 4
    markdown = (tmp_path / "missing_modality.md").read_text()
    assert "| mgcn | `propagate` |" in markdown and "| freedom | `mean` |" in markdown
    assert "**zeros**" in markdown and "Versions:" in markdown


def test_an_unfinished_model_proposes_nothing(study, tmp_path):
    args = arguments(datasets=["baby"])
    for rule in ("mean", "zeros"):
        for seed in args.seeds:
            save(study, tmp_path, "baby", "mgcn", rule, seed, 0.1)
    rows = study.results(study.load_runs(tmp_path), args)
    assert study.best_rules(rows, args) == {}
    assert study.chosen_defaults(rows, args) == {}


def test_the_linked_rules_search_the_filled_in_rows_of_every_model(
    study, bench, tmp_path
):
    folder = ["dataset=mmrec", f"dataset.folder={tmp_path}"]
    for rule, fill in (("mean_linked", "mean"), ("propagate_linked", "propagate")):
        for model in study.MODELS:
            cfg = compose_config([*folder, f"model={model}", *study.setting(rule)])
            assert cfg.dataset.missing_features == fill
            assert cfg.model.graphs.skip_missing is False
    # The other rules skip the rows, whatever the models' defaults are now,
    # and their records keep their names.
    runner = bench("runner")
    args = SimpleNamespace(caps={"baby_text": 1}, device="cpu", quick=False)
    for rule in ("mean", "zeros", "propagate"):
        for model in study.MODELS:
            run = study.study_run("baby_text", model, rule, 0)
            overrides = runner.overrides_of(run, args)
            assert "model.graphs.skip_missing=true" in overrides
            cfg = compose_config([*folder, f"model={model}", *run.setting, *run.pinned])
            assert cfg.model.graphs.skip_missing is True
            assert run.path(tmp_path).name == f"missing_features-{rule}_seed0.json"
