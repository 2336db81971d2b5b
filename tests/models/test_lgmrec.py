"""LGMRec against an independent dense computation of the published model
(MMRec's ``models/lgmrec.py``): collaborative, modality graph and hypergraph
embeddings, the Gumbel-softmax and dropout draws, the hypergraph contrast and
the loss; noise-free evaluation, cold items, one and three modalities,
config."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import (
    assert_training_lowers_the_loss,
    assert_trains_reproducibly_on_cpu,
    dense_norm_adj,
    make_batch,
    model_data,
)

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import (
    INTERACTS,
    ITEM,
    REV_INTERACTS,
    USER,
    item_features,
    split_edge_index,
)
from mde_pyg.errors import DatasetError
from mde_pyg.models import BPRBatch, LGMRec
from mde_pyg.models.losses import all_node_info_nce
from mde_pyg.pipeline import add_graphs, build_model, compose_config

DIM = 8
NUM_USERS, NUM_ITEMS = 40, 30
THREE = {"image": 16, "text": 8, "audio": 6}
make_data = model_data(LGMRec, NUM_USERS, NUM_ITEMS)


def published_ssl(emb1, emb2, all_emb, tau):
    """The published ssl_triple_loss, as written there (exp, sum, log)."""
    a, b, c = F.normalize(emb1), F.normalize(emb2), F.normalize(all_emb)
    pos = torch.exp((a * b).sum(1) / tau)
    total = torch.exp(a @ c.t() / tau).sum(1)
    return -torch.log(pos / total).sum()


def reference(model, data, sample, drop):
    """The published forward, dense, one modality at a time. The Gumbel noise
    and the dropout masks are drawn in the model's order: every modality's
    item weights at once, then the users', then the dropout of the items' and
    of the users' (``sample`` and ``drop`` say whether they are drawn)."""
    n_u, n_i = data[USER].num_nodes, data[ITEM].num_nodes
    train = split_edge_index(data, "train")
    R = torch.zeros(n_u, n_i)
    R[train[0], train[1]] = 1.0
    adj = dense_norm_adj(train, n_u, n_i)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
    layers, x = [ego], ego
    for _ in range(model.collaborative.num_layers):
        x = adj @ x
        layers.append(x)
    cge = torch.stack(layers).mean(0)

    features = item_features(data)
    mge = []
    for m, feat in features.items():
        item_feats = feat @ model.projections[m].weight.t()
        deg = R.sum(1, keepdim=True)
        user_feats = torch.where(deg > 0, R @ item_feats / deg.clamp(min=1), 0.0)
        x = torch.cat([user_feats, item_feats])
        for _ in range(model.modality_propagation.num_layers):
            x = adj @ x
        mge.append(x)

    item_logits = torch.stack(
        [feat @ model.hyperedge_logits[m].weight.t() for m, feat in features.items()]
    )
    user_logits = torch.stack([R @ logits for logits in item_logits])
    if sample:
        item_h = F.gumbel_softmax(item_logits, tau=model.tau, dim=-1)
        user_h = F.gumbel_softmax(user_logits, tau=model.tau, dim=-1)
    else:
        item_h = (item_logits / model.tau).softmax(-1)
        user_h = (user_logits / model.tau).softmax(-1)
    if drop:
        item_h = F.dropout(item_h, 1 - model.keep_rate)
        user_h = F.dropout(user_h, 1 - model.keep_rate)

    hyper_u, hyper_i = [], []
    for m in range(len(features)):  # the published HGNNLayer
        i_ret = cge[n_u:]
        for _ in range(model.hypergraph.num_layers):
            lat = item_h[m].t() @ i_ret
            i_ret = item_h[m] @ lat
            u_ret = user_h[m] @ lat
        hyper_u.append(u_ret)
        hyper_i.append(i_ret)
    ghe = sum(torch.cat([u, i]) for u, i in zip(hyper_u, hyper_i))
    out = cge + sum(F.normalize(x) for x in mge) + model.alpha * F.normalize(ghe)
    return out[:n_u], out[n_u:], hyper_u, hyper_i


def reference_loss(model, data, batch, sample=True, drop=True):
    """The published calculate_loss; with more than two modalities the
    contrast of every pair m < m', averaged."""
    user, item, hyper_u, hyper_i = reference(model, data, sample, drop)
    u, pos, neg = user[batch.user], item[batch.pos], item[batch.neg]
    bpr = -F.logsigmoid((u * pos).sum(1) - (u * neg).sum(1)).mean()
    reg = (u.norm() + pos.norm() + neg.norm()) / batch.user.numel()
    pairs = [(a, b) for a in range(len(hyper_u)) for b in range(a + 1, len(hyper_u))]
    cl = 0.0
    for a, b in pairs:
        cl = cl + published_ssl(
            hyper_u[a][batch.user], hyper_u[b][batch.user], hyper_u[b], model.tau
        )
        cl = cl + published_ssl(
            hyper_i[a][batch.pos], hyper_i[b][batch.pos], hyper_i[b], model.tau
        )
    cl = cl / len(pairs) if pairs else 0.0
    return bpr + model.cl_weight * cl + model.reg_weight * reg


def build(data, **kwargs):
    torch.manual_seed(0)
    kwargs = {"embedding_dim": DIM, "cl_weight": 0.1, "reg_weight": 0.1, **kwargs}
    return LGMRec.from_data(data, **kwargs)


@pytest.mark.parametrize(
    "layers",
    [
        {},
        {"num_ui_layers": 0, "num_mm_layers": 1, "num_hyper_layers": 2},
        {"num_ui_layers": 3, "num_mm_layers": 0, "num_hyper_layers": 3},
    ],
)
def test_evaluation_embeddings_are_the_reference_without_noise(layers):
    data = make_data()
    model = build(data, **layers).eval()
    user, item = model(data)
    assert user.shape == (NUM_USERS, DIM) and item.shape == (NUM_ITEMS, DIM)
    user_exp, item_exp, _, _ = reference(model, data, sample=False, drop=False)
    torch.testing.assert_close(user, user_exp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(item, item_exp, atol=1e-5, rtol=1e-5)
    # Deterministic: the evaluation and the recommendations repeat.
    torch.testing.assert_close(model.embeddings(data)[1], item)


@pytest.mark.parametrize("modalities", [None, THREE, {"text": 5}])
def test_loss_is_the_reference_with_the_same_draws(modalities):
    data = make_data(modalities)
    model = build(data, num_hyper_layers=2).train()
    batch = make_batch(data, size=24)
    torch.manual_seed(1)
    loss = model.loss(data, batch)
    torch.manual_seed(1)
    expected = reference_loss(model, data, batch)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    # The draws matter: another seed gives another loss.
    torch.manual_seed(2)
    assert model.loss(data, batch).item() != pytest.approx(loss.item(), rel=1e-6)


def test_one_modality_has_no_contrast_and_no_modality_is_refused():
    data = make_data({"text": 5})
    model = build(data).train()
    batch = make_batch(data)
    torch.manual_seed(1)
    with_cl = model.loss(data, batch)
    model.cl_weight = 0.0
    torch.manual_seed(1)
    torch.testing.assert_close(model.loss(data, batch), with_cl)
    assert model.modalities == ["text"] and list(model.hyperedge_logits) == ["text"]
    with pytest.raises(DatasetError, match="LGMRec needs at least one item feature"):
        LGMRec(NUM_USERS, NUM_ITEMS, {})


def test_sample_at_eval_draws_the_published_noise():
    data = make_data()
    model = build(data, sample_at_eval=True).eval()
    torch.manual_seed(3)
    user, item = model(data)
    torch.manual_seed(3)
    user_exp, item_exp, _, _ = reference(model, data, sample=True, drop=False)
    torch.testing.assert_close(item, item_exp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(user, user_exp, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model(data)[1], item)


def test_all_node_info_nce_is_the_published_formula():
    gen = torch.Generator().manual_seed(0)
    view1, view2 = torch.randn(2, 3, 12, 4, generator=gen)
    index = torch.tensor([0, 5, 5, 11])
    out = all_node_info_nce(view1[:, index], view2, index, tau=0.2)
    assert out.shape == (3,)
    for p in range(3):
        expected = published_ssl(view1[p, index], view2[p, index], view2[p], 0.2)
        torch.testing.assert_close(out[p], expected)


def test_parameters_and_checks():
    data = make_data()
    model = build(data)
    assert set(dict(model.named_parameters())) == {
        "user_embedding.weight",
        "item_embedding.weight",
        "projections.image.weight",
        "projections.text.weight",
        "hyperedge_logits.image.weight",
        "hyperedge_logits.text.weight",
    }
    assert model.hyperedge_logits["image"].weight.shape == (4, 16)
    assert "num_hyperedges=4" in repr(model) and "keep_rate=0.5" in repr(model)
    for edge_type in (INTERACTS, REV_INTERACTS):
        assert "adj_t" in data[edge_type]
    before = model.hyperedge_logits["text"].weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.hyperedge_logits["text"].weight)
    tuned = build(data, freeze_features=False)
    assert "x_image" in dict(tuned.named_parameters())
    with pytest.raises(ValueError, match="keep_rate"):
        build(data, keep_rate=0.0)
    with pytest.raises(ValueError, match="num_hyperedges"):
        build(data, num_hyperedges=0)
    with pytest.raises(ValueError, match="num_layers"):
        build(data, num_hyper_layers=0)


def cold_data(cold):
    """Synthetic data whose items ``cold`` have no training interaction."""
    data = make_synthetic(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        interactions_per_user=6,
        modalities={"image": 16, "text": 8},
        seed=0,
    )
    train = split_edge_index(data, "train")
    train = train[:, ~torch.isin(train[1], cold)]
    data[INTERACTS].edge_index = train
    data[REV_INTERACTS].edge_index = train.flip(0)
    return LGMRec.graph_transform()(data)


@pytest.mark.parametrize("num_mm_layers", [2, 0])
def test_cold_items_are_the_forward_rows_of_items_without_id(num_mm_layers):
    cold = torch.tensor([3, 17, 28])
    data = cold_data(cold)
    model = build(data, num_mm_layers=num_mm_layers).eval()
    assert torch.equal(model.cold_items(data), cold)
    items = cold[[2, 0]]
    emb = model.cold_item_embeddings(data, items)
    assert emb.shape == (2, DIM) and not emb.requires_grad
    # The cold items' ID embeddings are not read ...
    with torch.no_grad():
        model.item_embedding.weight[cold] = torch.randn(3, DIM)
    torch.testing.assert_close(model.cold_item_embeddings(data, items), emb)
    # ... and with them zero, the embeddings are the forward's rows.
    with torch.no_grad():
        model.item_embedding.weight[cold] = 0.0
    torch.testing.assert_close(emb, model(data)[1][items], atol=1e-6, rtol=1e-5)
    # An item's embedding does not depend on the others asked with it.
    torch.testing.assert_close(model.cold_item_embeddings(data, items[:1]), emb[:1])
    # Its features move it.
    with torch.no_grad():
        model.x_text[items] += 1.0
    assert not torch.allclose(model.cold_item_embeddings(data, items), emb)
    ids, scores = model.recommend_cold(data, torch.tensor([0, 3]), cold, k=3)
    expected = model(data)[0][[0, 3]] @ model.cold_item_embeddings(data, cold).t()
    torch.testing.assert_close(scores, expected.sort(1, descending=True).values)
    assert set(ids.flatten().tolist()) == set(cold.tolist())


def test_training_lowers_the_loss():
    data = make_data()
    model = build(data, keep_rate=1.0).train()
    torch.manual_seed(0)
    assert_training_lowers_the_loss(model, data)


def test_training_reads_the_negatives_and_takes_gradients_everywhere():
    data = make_data()
    model = build(data).train()
    batch = make_batch(data)
    torch.manual_seed(1)
    model.loss(data, batch).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    other = BPRBatch(batch.user, batch.pos, torch.zeros_like(batch.neg))
    torch.manual_seed(1)
    first = model.loss(data, batch)
    torch.manual_seed(1)
    assert model.loss(data, other).item() != pytest.approx(first.item(), rel=1e-6)


def test_config_builds_lgmrec():
    cfg = compose_config(
        ["model=lgmrec", "model.num_hyperedges=8", "model.sample_at_eval=true"]
    )
    data = add_graphs(cfg, make_synthetic(num_users=60, num_items=50, seed=0))
    model = build_model(cfg, data)
    assert isinstance(model, LGMRec) and model.num_hyperedges == 8
    assert model.sample_at_eval and model.freeze_features
    assert (model.alpha, model.keep_rate, model.cl_weight, model.reg_weight) == (
        0.3,
        0.5,
        1e-4,
        1e-6,
    )
    assert model.collaborative.num_layers == model.modality_propagation.num_layers == 2
    assert model.hypergraph.num_layers == 1


def test_trains_reproducibly_on_cpu():
    assert_trains_reproducibly_on_cpu(LGMRec)
