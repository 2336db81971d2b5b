import inspect

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from mde_pyg.config import check_kwargs
from mde_pyg.data.graphs import to_adj
from mde_pyg.data.hetero import ITEM, USER, split_edge_index
from mde_pyg.data.synthetic import make_synthetic
from mde_pyg.evaluation import evaluate_embeddings, evaluate_scores
from mde_pyg.models.base import BPRBatch
from mde_pyg.models.lattice import LATTICE
from mde_pyg.training.trainer import Trainer


# The published code (MMRec / CRIPAC-DIG LATTICE), dense, for reference.
def build_sim(x):
    x = x / x.norm(p=2, dim=-1, keepdim=True)
    return x @ x.t()


def build_knn_neighbourhood(adj, k):
    value, index = adj.topk(k, dim=-1)
    return torch.zeros_like(adj).scatter_(-1, index, value)


def compute_normalized_laplacian(adj):
    d_inv_sqrt = adj.sum(-1).pow(-0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    d = torch.diagflat(d_inv_sqrt)
    return d @ adj @ d


def dense_item_graph(model, features):
    weight = model.modality_weight.softmax(0)
    learned = sum(
        weight[m]
        * build_knn_neighbourhood(build_sim(model.projections[name](x)), model.k)
        for m, (name, x) in enumerate(features.items())
    )
    original = sum(
        weight[m]
        * compute_normalized_laplacian(
            build_knn_neighbourhood(build_sim(x.detach()), model.k)
        )
        for m, x in enumerate(features.values())
    )
    lam = model.lambda_coeff
    return (1 - lam) * compute_normalized_laplacian(learned) + lam * original


def dense_forward(model, features, pairs):
    item_adj = dense_item_graph(model, features)
    h = model.item_embedding.weight
    for _ in range(model.num_item_layers):
        h = item_adj @ h
    n = model.num_users + model.num_items
    adj = torch.zeros(n, n)
    adj[pairs[0], pairs[1] + model.num_users] = 1.0
    adj[pairs[1] + model.num_users, pairs[0]] = 1.0
    adj = adj + torch.eye(n)
    adj = adj / adj.sum(1, keepdim=True)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    layers = [ego]
    for _ in range(model.num_ui_layers):
        ego = adj @ ego
        layers.append(ego)
    user, item = (
        torch.stack(layers, 1).mean(1).split([model.num_users, model.num_items])
    )
    return user, item + F.normalize(h, p=2, dim=1)


def small_problem(
    seed=0, num_users=30, num_items=25, modalities=(("image", 12), ("text", 7))
):
    gen = torch.Generator().manual_seed(seed)
    pairs = torch.stack(
        [
            torch.randint(0, num_users, (150,), generator=gen),
            torch.randint(0, num_items, (150,), generator=gen),
        ]
    ).unique(dim=1)
    features = {m: torch.randn(num_items, d, generator=gen) for m, d in modalities}
    return num_users, num_items, pairs, features


def make_model(**kwargs):
    num_users, num_items, pairs, features = small_problem()
    torch.manual_seed(0)
    kwargs = {"embedding_dim": 8, "feat_embed_dim": 6, "k": 5, **kwargs}
    model = LATTICE(num_users, num_items, pairs, features, **kwargs)
    # Unequal modality weights, so that the mixing is actually checked.
    with torch.no_grad():
        model.modality_weight.copy_(torch.linspace(0.4, -0.3, len(features)))
    return model, pairs, features


def frozen_adj(model, modality):
    start = sum(model.frozen_sizes[: model.modalities.index(modality)].tolist())
    end = start + int(model.frozen_sizes[model.modalities.index(modality)])
    index = model.frozen_edge_index[:, start:end]
    return to_adj(index, model.frozen_edge_weight[start:end], (model.num_items,) * 2)


def test_frozen_graphs_match_dense_reference():
    model, _, features = make_model()
    for name, x in features.items():
        expected = compute_normalized_laplacian(
            build_knn_neighbourhood(build_sim(x), 5)
        )
        assert torch.allclose(frozen_adj(model, name).to_dense(), expected, atol=1e-6)
        # k per item, self included, weights = similarities (before normalising).
        assert model.frozen_sizes.tolist() == [25 * 5, 25 * 5]


@pytest.mark.parametrize("modalities", [(("image", 12), ("text", 7)), (("image", 12),)])
def test_item_graph_matches_dense_reference(modalities):
    num_users, num_items, pairs, features = small_problem(modalities=modalities)
    model = LATTICE(num_users, num_items, pairs, features, feat_embed_dim=6, k=5)
    with torch.no_grad():
        model.modality_weight.copy_(torch.linspace(0.4, -0.3, len(features)))
        edge_index, edge_weight = model.item_graph()
        expected = dense_item_graph(model, features)
    got = to_adj(edge_index, edge_weight, (num_items, num_items)).to_dense()
    assert torch.allclose(got, expected, atol=1e-6)


def test_first_batch_matches_dense_reference_values_and_gradients():
    model, pairs, features = make_model()
    batch = BPRBatch(
        torch.tensor([0, 3, 7, 7]),
        torch.tensor([1, 4, 2, 9]),
        torch.tensor([5, 6, 0, 8]),
    )
    model.reg_weight = 0.1
    model.on_epoch_start(0)
    params = [p for p in model.parameters() if p.requires_grad]
    loss = model.loss(batch)
    grads = torch.autograd.grad(loss, params, allow_unused=True)

    user, item = dense_forward(model, {m: model.feature(m) for m in features}, pairs)
    u, p, n = user[batch.user], item[batch.pos], item[batch.neg]
    expected = -F.logsigmoid((u * p).sum(1) - (u * n).sum(1)).mean()
    expected = (
        expected
        + 0.1 * 0.5 * (u.square().sum() + p.square().sum() + n.square().sum()) / 4
    )
    expected_grads = torch.autograd.grad(expected, params, allow_unused=True)

    assert torch.allclose(loss, expected, atol=1e-6)
    for (name, _), got, want in zip(model.named_parameters(), grads, expected_grads):
        assert got is not None and want is not None, name
        assert torch.allclose(got, want, atol=1e-5), name


def test_learned_graph_gradient_on_first_batch_of_each_epoch_only():
    model, _, _ = make_model()
    batch = BPRBatch(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    learned = [model.modality_weight, model.x_image, model.x_text]
    learned += [p for proj in model.projections.values() for p in proj.parameters()]
    for epoch in range(2):
        model.on_epoch_start(epoch)
        model.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        for p in learned:
            assert p.grad is not None and p.grad.abs().sum() > 0
        model.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        for p in learned:
            assert p.grad is None
        assert model.item_embedding.weight.grad.abs().sum() > 0


def test_embeddings_rebuild_the_graph_from_current_parameters():
    model, pairs, features = make_model()
    model.on_epoch_start(0)
    with torch.no_grad():
        for proj in model.projections.values():
            proj.weight.mul_(-2.0).add_(0.3)
        user, item = model.embeddings()
        expected_user, expected_item = dense_forward(model, features, pairs)
    assert not user.requires_grad and not item.requires_grad
    assert torch.allclose(user, expected_user, atol=1e-6)
    assert torch.allclose(item, expected_item, atol=1e-6)


def test_shapes_repr_reset_and_state_dict():
    data = make_synthetic(num_users=50, num_items=40, seed=1)
    model = LATTICE.from_data(data, embedding_dim=16, k=4)
    user, item = model()
    assert user.shape == (50, 16) and item.shape == (40, 16)
    assert model.modalities == ["image", "text"]
    text = repr(model)
    assert text.startswith("LATTICE(num_users=50, num_items=40")
    assert (
        "k=4" in text
        and "lambda_coeff=0.9" in text
        and "modalities=['image', 'text']" in text
    )
    # Derived graphs are not checkpointed; fine-tuned features are.
    assert set(model.state_dict()) == {
        "user_embedding.weight",
        "item_embedding.weight",
        "x_image",
        "x_text",
        "projections.image.weight",
        "projections.image.bias",
        "projections.text.weight",
        "projections.text.bias",
        "modality_weight",
    }
    # Fine-tuning must not write into the dataset's features.
    assert model.x_image.data_ptr() != data[ITEM].x_image.data_ptr()

    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.modality_weight.add_(1.0)
    model.reset_parameters()
    after = model.state_dict()
    for key in (
        "user_embedding.weight",
        "item_embedding.weight",
        "projections.text.weight",
    ):
        assert not torch.equal(before[key], after[key])
    assert torch.equal(before["x_image"], after["x_image"])
    assert torch.allclose(model.modality_weight, torch.full((2,), 0.5))


def test_freeze_features_keeps_them_out_of_parameters_and_state_dict():
    model, _, features = make_model(freeze_features=True)
    names = {name for name, _ in model.named_parameters()}
    assert "x_image" not in names and "x_image" not in model.state_dict()
    assert torch.equal(model.x_image, features["image"])
    batch = BPRBatch(torch.tensor([0]), torch.tensor([2]), torch.tensor([4]))
    model.on_epoch_start(0)
    model.loss(batch).backward()
    assert model.projections["image"].weight.grad.abs().sum() > 0
    assert "freeze_features=True" in repr(model)


def test_frozen_graphs_are_cached_on_disk(tmp_path):
    num_users, num_items, pairs, features = small_problem()
    first = LATTICE(num_users, num_items, pairs, features, k=5, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("graph-*.pt"))) == 2
    second = LATTICE(num_users, num_items, pairs, features, k=5, cache_dir=tmp_path)
    assert torch.equal(first.frozen_edge_index, second.frozen_edge_index)
    assert torch.equal(first.frozen_edge_weight, second.frozen_edge_weight)
    LATTICE(num_users, num_items, pairs, features, k=6, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("graph-*.pt"))) == 4


def test_invalid_arguments():
    num_users, num_items, pairs, features = small_problem()
    with pytest.raises(ValueError, match="at least one"):
        LATTICE(num_users, num_items, pairs, {})
    with pytest.raises(ValueError, match="'image'.*num_items=25"):
        LATTICE(num_users, num_items, pairs, {"image": torch.randn(3, 4)})
    with pytest.raises(ValueError, match="lambda_coeff"):
        LATTICE(num_users, num_items, pairs, features, lambda_coeff=1.5)


def test_training_beats_popularity_on_synthetic():
    data = make_synthetic(
        num_users=300, num_items=150, interactions_per_user=12, seed=0
    )
    train, val = split_edge_index(data, "train"), split_edge_index(data, "val")
    num_users, num_items = data[USER].num_nodes, data[ITEM].num_nodes
    counts = torch.bincount(train[1], minlength=num_items).float()
    popularity = evaluate_scores(counts.expand(num_users, -1), train, val, k=20)

    torch.manual_seed(0)
    model = LATTICE.from_data(data, reg_weight=1e-4)
    trainer = Trainer(
        model,
        data,
        lr=5e-3,
        batch_size=512,
        max_epochs=30,
        patience=30,
        lr_decay=0.96,
        lr_decay_every=50,
        verbose=False,
    )
    result = trainer.fit()
    user, item = model.embeddings()
    recall = evaluate_embeddings(user, item, train, val, k=20)["recall@20"]
    assert recall == pytest.approx(result.best_val["recall@20"])
    assert recall > popularity["recall@20"] + 0.02


def test_configs_compose_with_the_published_grid_and_schedule():
    with initialize_config_module("mde_pyg.conf", version_base="1.3"):
        cfg = compose(
            "config", overrides=["experiment=lattice_grid"], return_hydra_config=True
        )
    model = OmegaConf.to_container(cfg.model)
    assert model["_target_"] == "mde_pyg.models.LATTICE.from_data"
    check_kwargs(
        "model",
        model,
        LATTICE.from_data,
        provided=("num_users", "num_items", "edge_index", "features"),
    )
    # Every option of the constructor is in the config, with its default.
    defaults = {
        name: p.default
        for name, p in inspect.signature(LATTICE.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert {k: v for k, v in model.items() if k != "_target_"} == defaults
    assert (cfg.trainer.lr_decay, cfg.trainer.lr_decay_every) == (0.96, 50)
    params = cfg.hydra.sweeper.params
    assert params["trainer.lr"] == "1e-4,5e-4,1e-3,5e-3"
    assert params["model.reg_weight"] == "0,1e-5,1e-4,1e-3"
