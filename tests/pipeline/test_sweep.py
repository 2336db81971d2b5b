import json

import pytest

from mde_pyg.pipeline import load_sweep, select_best, write_selection


def write_job(sweep, job, val, test, overrides, seed_dir=None, best_epoch=3):
    folder = sweep / job / seed_dir if seed_dir else sweep / job
    folder.mkdir(parents=True)
    result = {
        "best_val": {"recall@20": val},
        "test": {"recall@20": test},
        "best_epoch": best_epoch,
    }
    (folder / "results.json").write_text(json.dumps({"result": result}))
    hydra = sweep / job / ".hydra"
    hydra.mkdir(exist_ok=True)
    (hydra / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def test_selects_on_validation_even_when_test_disagrees(tmp_path):
    write_job(tmp_path, "0", val=0.30, test=0.10, overrides=["model.reg_weight=0.1"])
    write_job(tmp_path, "1", val=0.20, test=0.50, overrides=["model.reg_weight=0.2"])
    best, jobs = select_best(tmp_path)
    assert best.job == "0" and best.overrides == ["model.reg_weight=0.1"]
    assert [job.job for job in jobs] == ["0", "1"]
    assert not (tmp_path / "best.json").exists()  # selecting writes nothing
    assert write_selection(tmp_path, best, "recall@20") == tmp_path / "best.json"
    saved = json.loads((tmp_path / "best.json").read_text())
    assert saved["job"] == "0" and saved["selected_on"] == "validation"


def test_jobs_sort_as_numbers_and_seeds_are_averaged(tmp_path):
    for job in ("2", "10", "1"):
        write_job(tmp_path, job, 0.1, 0.1, [f"x={job}"])
    write_job(tmp_path, "3", 0.2, 0.3, ["x=3"], seed_dir="seed_0", best_epoch=5)
    write_job(tmp_path, "3", 0.4, 0.1, ["x=3"], seed_dir="seed_1", best_epoch=2)
    jobs = load_sweep(tmp_path)
    assert [job.job for job in jobs] == ["1", "2", "3", "10"]
    three = jobs[2]
    assert three.seeds == 2 and three.val == pytest.approx(0.3)
    assert three.test == pytest.approx(0.2) and three.best_epochs == [2, 5]


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no results.json"):
        load_sweep(tmp_path)
