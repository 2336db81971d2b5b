"""Using a trained model: Recommender.recommend, load_run and the
``mde-pyg recommend`` / ``export`` commands."""

import csv
import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import mde_pyg
from cli_helpers import exit_status, run_cli
from mde_pyg import load_run
from mde_pyg.cli import main
from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import split_edge_index
from mde_pyg.errors import ConfigError
from mde_pyg.evaluation.retrieval import recommend_from_embeddings
from mde_pyg.models import MDE, LightGCN, Recommender
from mde_pyg.pipeline import build_data, build_model, load_run_config, output_format
from mde_pyg.training import load_checkpoint, save_checkpoint

README = Path(__file__).resolve().parents[2] / "README.md"


class FixedEmbeddings(Recommender):
    """A model whose embeddings are given: small integers, so that scores are
    exact and full of ties."""

    def __init__(self, user_emb, item_emb):
        super().__init__(user_emb.size(0), item_emb.size(0))
        self.user_emb = torch.nn.Parameter(user_emb)
        self.item_emb = torch.nn.Parameter(item_emb)

    def forward(self, data):
        return self.user_emb, self.item_emb


def naive_topk(user_emb, item_emb, train, users, k, exclude_seen=True):
    """Dense scores, training pairs set to -inf, stable descending sort;
    -inf entries and the columns past num_items are padding."""
    scores = user_emb @ item_emb.t()
    if exclude_seen:
        scores[train[0], train[1]] = float("-inf")
    scores = scores[users]
    order = scores.sort(dim=1, descending=True, stable=True).indices[:, :k]
    value = scores.gather(1, order)
    order = order.masked_fill(torch.isneginf(value), -1)
    missing = k - order.size(1)
    if missing > 0:
        order = torch.cat([order, order.new_full((len(users), missing), -1)], 1)
        value = torch.cat(
            [value, value.new_full((len(users), missing), float("-inf"))], 1
        )
    return order, value


@pytest.fixture(scope="module")
def small_data():
    return make_synthetic(num_users=80, num_items=50, seed=0)


@pytest.fixture(scope="module")
def tied_model():
    generator = torch.Generator().manual_seed(0)
    user_emb = torch.randint(-2, 3, (80, 4), generator=generator).float()
    item_emb = torch.randint(-1, 2, (50, 4), generator=generator).float()
    return FixedEmbeddings(user_emb, item_emb)


def train_items(data, user):
    train = split_edge_index(data, "train")
    return set(train[1][train[0] == user].tolist())


@pytest.mark.parametrize("model_cls", [LightGCN, MDE])
def test_recommendations_never_contain_training_items(small_data, model_cls):
    torch.manual_seed(0)
    data = model_cls.graph_transform()(small_data)
    model = model_cls.from_data(data)
    users = torch.arange(80)
    items, scores = model.recommend(data, users, k=20, chunk_size=16)
    assert items.shape == scores.shape == (80, 20)
    assert items.dtype == torch.long
    for user in users.tolist():
        row = [item for item in items[user].tolist() if item >= 0]
        seen = train_items(data, user)
        assert not set(row) & seen
        # Distinct, and as many as the user has unseen items (up to k).
        assert len(set(row)) == len(row) == min(20, 50 - len(seen))
    # Best first.
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    # Without the mask, training items are recommended again.
    seen, _ = model.recommend(data, users, k=20, exclude_seen=False)
    assert any(set(seen[u].tolist()) & train_items(data, u) for u in users.tolist())


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_recommend_equals_naive_dense_topk_with_ties(
    small_data, tied_model, chunk_size, exclude_seen
):
    users = torch.tensor([5, 0, 79, 5, 13, 42, 1])
    items, scores = tied_model.recommend(
        small_data, users, k=12, exclude_seen=exclude_seen, chunk_size=chunk_size
    )
    expected_items, expected_scores = naive_topk(
        tied_model.user_emb.detach(),
        tied_model.item_emb.detach(),
        split_edge_index(small_data, "train"),
        users,
        k=12,
        exclude_seen=exclude_seen,
    )
    assert torch.equal(items, expected_items)
    assert torch.equal(scores, expected_scores)
    # The data are full of ties, so the tie-breaking was exercised: equal
    # scores next to each other are in ascending item order.
    tied = scores[:, 1:] == scores[:, :-1]
    assert tied.any()
    assert (items[:, 1:][tied] > items[:, :-1][tied]).all()


def test_recommend_equals_naive_dense_topk_of_lightgcn(small_data):
    torch.manual_seed(0)
    data = LightGCN.graph_transform()(small_data)
    model = LightGCN.from_data(data)
    user_emb, item_emb = model.embeddings(data)
    users = torch.arange(80)
    expected = naive_topk(
        user_emb, item_emb, split_edge_index(data, "train"), users, 10
    )
    items, scores = model.recommend(data, users)
    assert torch.equal(items, expected[0]) and torch.equal(scores, expected[1])
    items, scores = model.recommend(data, users, chunk_size=7)
    assert torch.equal(items, expected[0])
    torch.testing.assert_close(scores, expected[1])


def test_k_beyond_the_unseen_items_pads_with_minus_one(small_data, tied_model):
    users = torch.arange(80)
    items, scores = tied_model.recommend(small_data, users, k=60)
    assert items.shape == (80, 60)
    for user in users.tolist():
        available = 50 - len(train_items(small_data, user))
        row = items[user]
        assert (row[:available] >= 0).all() and (row[available:] == -1).all()
        assert set(row[:available].tolist()) == set(range(50)) - train_items(
            small_data, user
        )
        assert torch.isfinite(scores[user, :available]).all()
        assert torch.isneginf(scores[user, available:]).all()
    expected = naive_topk(
        tied_model.user_emb.detach(),
        tied_model.item_emb.detach(),
        split_edge_index(small_data, "train"),
        users,
        60,
    )
    assert torch.equal(items, expected[0]) and torch.equal(scores, expected[1])


def test_no_users_give_empty_results(small_data, tied_model):
    items, scores = tied_model.recommend(small_data, torch.tensor([], dtype=torch.long))
    assert items.shape == scores.shape == (0, 10)


@pytest.mark.parametrize(
    "users, message",
    [
        (torch.tensor([0, 80, 3]), "user id 80 is out of range for 80 users"),
        (torch.tensor([4, -1]), "user id -1 is out of range"),
        (torch.tensor([0.0, 1.0]), "integer tensor"),
        (torch.tensor([[0, 1]]), "1-D"),
        ([0, 1.5], "integer user ids"),
    ],
)
def test_bad_user_ids_raise(small_data, tied_model, users, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tied_model.recommend(small_data, users)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_bad_k_raises(small_data, tied_model, k):
    with pytest.raises(ValueError, match="'k' must be a positive integer"):
        tied_model.recommend(small_data, torch.tensor([0]), k=k)


def test_a_list_of_ids_is_accepted(small_data, tied_model):
    from_list = tied_model.recommend(small_data, [3, 4], k=5)
    from_tensor = tied_model.recommend(small_data, torch.tensor([3, 4]), k=5)
    assert all(torch.equal(a, b) for a, b in zip(from_list, from_tensor))


# ---------------------------------------------------------------- run folders


def test_load_run_rebuilds_the_best_checkpoint(finished_run):
    model, data, cfg = load_run(finished_run)
    assert isinstance(model, LightGCN) and not model.training
    assert cfg.model._target_ == "mde_pyg.models.LightGCN.from_data"
    assert data["user"].num_nodes == 80 and data["item"].num_nodes == 50

    reference_cfg = load_run_config(finished_run)
    reference_data = build_data(reference_cfg)
    reference = build_model(reference_cfg, reference_data)
    fresh = [e.clone() for e in reference.embeddings(reference_data)]
    best = load_checkpoint(finished_run / "checkpoints" / "best.pt")
    reference.load_state_dict(best["model"])
    for got, want, init in zip(
        model.embeddings(data), reference.embeddings(reference_data), fresh
    ):
        assert torch.equal(got, want)
        assert not torch.allclose(got, init)  # trained weights, not a fresh init
    for name, value in model.state_dict().items():
        assert value.device.type == "cpu"
        assert torch.equal(value, best["model"][name])


def test_mde_pyg_exports_load_run():
    assert mde_pyg.load_run is load_run and "load_run" in mde_pyg.__all__


def test_load_run_refuses_a_foreign_target(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    marker = tmp_path / "pwned"
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.model = {"_target_": "builtins.exec", "source": f"open('{marker}','w')"}
    OmegaConf.save(cfg, run / "config.yaml")
    with pytest.raises(ConfigError, match="'model._target_' is 'builtins.exec'"):
        load_run(run)
    assert not marker.exists()


def test_load_run_of_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml' not found"):
        load_run(tmp_path / "nowhere")


def test_recommend_command_writes_csv(finished_run, tmp_path, capsys):
    out = tmp_path / "recs.csv"
    main(
        [
            "recommend",
            str(finished_run),
            "--users",
            "0,5,7",
            "--k",
            "5",
            "--out",
            str(out),
        ]
    )
    assert "15 recommendations for 3 users" in capsys.readouterr().out
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["user", "rank", "item", "score"]
    model, data, _ = load_run(finished_run)
    items, scores = model.recommend(data, torch.tensor([0, 5, 7]), k=5)
    got_items = torch.tensor([int(r["item"]) for r in rows]).view(3, 5)
    got_scores = torch.tensor([float(r["score"]) for r in rows]).view(3, 5)
    assert [int(r["user"]) for r in rows] == [0] * 5 + [5] * 5 + [7] * 5
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5] * 3
    assert torch.equal(got_items, items)
    torch.testing.assert_close(got_scores, scores)


def test_recommend_command_writes_jsonl_for_all_users(finished_run, tmp_path, capsys):
    out = tmp_path / "recs.jsonl"
    main(["recommend", str(finished_run), "--all", "--k", "60", "--out", str(out)])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["user"] for r in records] == list(range(80))
    model, data, _ = load_run(finished_run)
    items, scores = model.recommend(data, torch.arange(80), k=60)
    for record in records:
        user = record["user"]
        # Padding is not written: the list holds every unseen item.
        available = 50 - len(train_items(data, user))
        assert len(record["items"]) == len(record["scores"]) == available
        assert record["items"] == items[user, :available].tolist()
        torch.testing.assert_close(
            torch.tensor(record["scores"]), scores[user, :available]
        )


def test_recommend_command_reads_a_users_file(finished_run, tmp_path, capsys):
    users = tmp_path / "users.txt"
    users.write_text("# users to serve\n3, 4\n9\n")
    out = tmp_path / "recs.jsonl"
    main(
        ["recommend", str(finished_run), "--users-file", str(users), "--out", str(out)]
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["user"] for r in records] == [3, 4, 9]
    assert all(len(r["items"]) == 10 for r in records)


def test_recommend_command_out_of_range_user_is_one_error_line(
    finished_run, tmp_path, capsys
):
    out = tmp_path / "recs.csv"
    status, captured = exit_status(
        ["recommend", str(finished_run), "--users", "0,80", "--out", str(out)], capsys
    )
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert status == 2
    assert errors == [
        "error: --users: user id 80 is out of range for 80 users (valid: 0..79)"
    ]
    assert not out.exists()


def test_recommend_command_out_of_range_user_in_a_subprocess(finished_run, tmp_path):
    proc = run_cli(
        ["recommend", str(finished_run), "--users", "-3", "--out", "r.csv"], tmp_path
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        "error: --users: user id -3 is out of range for 80 users (valid: 0..79)"
    ]
    assert proc.stderr.strip().splitlines()[-1] == errors[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--users", "0,x"], "error: --users: 'x' is not an integer user id"),
        (["--users", ","], "error: --users: no user ids given"),
        (["--all", "--k", "0"], "error: --k must be a positive integer (got 0)"),
    ],
)
def test_recommend_command_bad_arguments(finished_run, tmp_path, capsys, args, message):
    out = tmp_path / "recs.csv"
    status, captured = exit_status(
        ["recommend", str(finished_run), *args, "--out", str(out)], capsys
    )
    assert status == 2 and captured.err.strip() == message


def test_recommend_command_errors_on_files(finished_run, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    status, captured = exit_status(
        ["recommend", str(missing), "--all", "--out", str(tmp_path / "r.csv")], capsys
    )
    assert status == 2 and captured.err.startswith("error: ")
    assert "config.yaml' not found" in captured.err
    assert len(captured.err.strip().splitlines()) == 1

    status, captured = exit_status(
        ["recommend", str(finished_run), "--all", "--out", str(tmp_path / "r.txt")],
        capsys,
    )
    assert status == 2 and "must end in .csv, .jsonl, .parquet" in captured.err


def test_parquet_without_pandas_names_the_packages(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyarrow" else real(name, *a),
    )
    with pytest.raises(ImportError, match="needs pandas and pyarrow.*pyarrow not"):
        output_format(tmp_path / "recs.parquet")


def test_export_command(finished_run, tmp_path, capsys):
    out = tmp_path / "emb"
    main(["export", str(finished_run), "--out", str(out)])
    user_emb = np.load(out / "user_embeddings.npy")
    item_emb = np.load(out / "item_embeddings.npy")
    ids = json.loads((out / "ids.json").read_text())
    assert user_emb.shape == (80, 64) and item_emb.shape == (50, 64)
    assert user_emb.dtype == np.float32
    assert ids["num_users"] == 80 and ids["num_items"] == 50
    assert ids["ids"] == "internal" and "row i" in ids["rows"]
    model, data, _ = load_run(finished_run)
    expected_user, expected_item = model.embeddings(data)
    assert np.array_equal(user_emb, expected_user.numpy())
    assert np.array_equal(item_emb, expected_item.numpy())
    # The exported embeddings rank as `recommend` does.
    items, _ = model.recommend(data, torch.arange(80), k=10)
    again, _ = recommend_from_embeddings(
        torch.from_numpy(user_emb),
        torch.from_numpy(item_emb),
        torch.arange(80),
        exclude_index=split_edge_index(data, "train"),
    )
    assert torch.equal(items, again)


def test_export_command_missing_run(tmp_path, capsys):
    status, captured = exit_status(
        ["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e")], capsys
    )
    assert status == 2 and captured.err.startswith("error: ")
    assert not (tmp_path / "e").exists()


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "load_run" in b]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["mde-pyg"])  # `main(["train", ...])` sets it
    namespace = {}
    exec(block, namespace)
    assert (tmp_path / "runs" / "demo" / "checkpoints" / "best.pt").is_file()
    items, scores = namespace["items"], namespace["scores"]
    assert items.shape == scores.shape == (3, 10)
    data = namespace["data"]
    for row, user in zip(items.tolist(), [0, 5, 7]):
        assert not set(row) & train_items(data, user)


def test_recommend_command_shows_progress_on_a_terminal(
    finished_run, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "recs.csv"
    main(["recommend", str(finished_run), "--all", "--out", str(out)])
    assert "recommend:" not in capsys.readouterr().err  # not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    main(["recommend", str(finished_run), "--all", "--out", str(out)])
    assert "\rrecommend: 80/80 users\n" in capsys.readouterr().err


def test_recommend_command_methods_give_the_same_lists(finished_run, tmp_path, capsys):
    pytest.importorskip("faiss")  # in the test extra; mips needs it
    outputs = {}
    for method in ("dense", "mips"):
        out = tmp_path / f"{method}.jsonl"
        main(
            [
                "recommend",
                str(finished_run),
                "--all",
                "--k",
                "7",
                "--method",
                method,
                "--out",
                str(out),
            ]
        )
        outputs[method] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["items"] for r in outputs["dense"]] == [
        r["items"] for r in outputs["mips"]
    ]
    code, captured = exit_status(
        ["recommend", str(finished_run), "--all", "--method", "fast", "--out", "r.csv"],
        capsys,
    )
    assert code == 2 and "invalid choice: 'fast'" in captured.err


def _tag_storages_as_cuda(storage):
    # What torch.save records for the tensors of a model trained on a GPU.
    return "cuda:0" if storage.device.type == "cpu" else None


def test_a_run_trained_on_a_gpu_loads_on_the_cpu(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    best = run / "checkpoints" / "best.pt"
    state = load_checkpoint(best)
    registry = torch.serialization._package_registry
    torch.serialization.register_package(
        0, _tag_storages_as_cuda, lambda obj, loc: None
    )
    try:
        save_checkpoint(state, best)
        buffer = io.BytesIO()
        torch.save(state, buffer)
    finally:
        registry[:] = [
            entry for entry in registry if entry[1] is not _tag_storages_as_cuda
        ]
    if not torch.cuda.is_available():
        # Control: loaded as saved, the tensors would have to go to a GPU.
        buffer.seek(0)
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(buffer, weights_only=True)
    model, data, _ = load_run(run)
    assert all(p.device.type == "cpu" for p in model.parameters())
    reference, reference_data, _ = load_run(finished_run)
    users = torch.arange(10)
    items, scores = model.recommend(data, users, k=5)
    expected_items, expected_scores = reference.recommend(reference_data, users, k=5)
    assert torch.equal(items, expected_items)
    torch.testing.assert_close(scores, expected_scores)
