"""The MDE design study screens every candidate, confirms the best ranked on
the decision datasets, and does not re-run a candidate that reproduced the
reference bit for bit."""

import json
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="module")
def study(bench):
    return bench("mde_study")


CANDIDATES = ["mde_mgcn", "a", "b", "c"]


def arguments(datasets):
    return SimpleNamespace(
        datasets=datasets,
        candidates=CANDIDATES,
        screen_seeds=[0, 1],
        confirm_seeds=[0, 1, 2],
    )


def save(study, out, dataset, model, seed, val, test=0.5, best_epoch=3):
    run = study.Run(dataset, model, (), seed)
    run.path(out).parent.mkdir(parents=True, exist_ok=True)
    run.path(out).write_text(
        json.dumps(
            {
                "dataset": dataset,
                "model": model,
                "setting": [],
                "seed": seed,
                "val": {"recall@20": val},
                "test": {"recall@20": test},
                "best_epoch": best_epoch,
                "device": "cpu",
            }
        )
    )


def screen(study, out, dataset, vals):
    """Screening runs of every candidate; ``vals`` maps candidate -> val."""
    for candidate, val in vals.items():
        for seed in (0, 1):
            save(study, out, dataset, candidate, seed, val + seed * 1e-3)


def test_confirmation_follows_the_decision_datasets_only(study, tmp_path):
    args = arguments(["ml100k", "capability"])
    todo = study.pending(args, tmp_path)
    assert {r.seed for r in todo} == {0, 1} and len(todo) == 2 * 4 * 2
    screen(
        study, tmp_path, "ml100k", {"mde_mgcn": 0.30, "a": 0.10, "b": 0.31, "c": 0.32}
    )
    # Nothing is confirmed before every dataset has been screened.
    assert study.finalists(study.load_runs(tmp_path), args) is None
    # The capability data ranks the candidates the other way round: it does
    # not choose, ml100k does.
    screen(
        study, tmp_path, "capability", {"mde_mgcn": 0.2, "a": 0.9, "b": 0.1, "c": 0.1}
    )
    final = study.finalists(study.load_runs(tmp_path), args)
    assert final == ["mde_mgcn", "c", "b", "a"][: study.TOP + 1]
    todo = study.pending(args, tmp_path)
    assert {r.seed for r in todo} == {2}
    assert {(r.dataset, r.model) for r in todo} == {
        (d, c) for d in ("ml100k", "capability") for c in final
    }


def test_a_candidate_identical_to_the_reference_is_not_rerun(study, tmp_path):
    args = arguments(["baby_text"])
    screen(
        study, tmp_path, "baby_text", {"mde_mgcn": 0.3, "a": 0.3, "b": 0.3, "c": 0.2}
    )
    runs = study.load_runs(tmp_path)
    assert study.same_as_reference(runs, "baby_text", "a", args)
    assert not study.same_as_reference(runs, "baby_text", "c", args)
    assert not study.same_as_reference(runs, "baby_text", "mde_mgcn", args)
    todo = study.pending(args, tmp_path)
    assert {(r.model, r.seed) for r in todo} == {("mde_mgcn", 2), ("c", 2)}
    # Same validation but another test score or best epoch: not identical.
    save(study, tmp_path, "baby_text", "b", 1, 0.3 + 1e-3, test=0.6)
    assert not study.same_as_reference(
        study.load_runs(tmp_path), "baby_text", "b", args
    )


def test_decision_skips_a_finalist_significantly_below_the_reference(study, tmp_path):
    args = arguments(["ml100k"])
    # "c" ranks first on screening but its confirmation falls well below.
    ref, vals = [0.300, 0.301, 0.302], {"a": 0.25, "b": 0.305, "c": 0.31}
    for seed, val in enumerate(ref):
        save(study, tmp_path, "ml100k", "mde_mgcn", seed, val)
    for candidate, val in vals.items():
        for seed in (0, 1):
            save(study, tmp_path, "ml100k", candidate, seed, val + seed * 1e-3)
    runs = study.load_runs(tmp_path)
    final = study.finalists(runs, args)
    rank = study.ranks(runs, args)
    assert study.decision(runs, args, final, rank)[-1].endswith(
        "Waiting for the confirmation runs."
    )
    save(study, tmp_path, "ml100k", "c", 2, 0.20)
    save(study, tmp_path, "ml100k", "c", 0, 0.19)
    save(study, tmp_path, "ml100k", "c", 1, 0.195)
    for candidate in ("a", "b"):
        save(study, tmp_path, "ml100k", candidate, 2, vals[candidate] + 2e-3)
    lines = study.decision(study.load_runs(tmp_path), args, final, rank)
    assert "`c`" in lines[3] and "significantly below" in lines[3]
    assert lines[4].startswith("- **`b`**")
