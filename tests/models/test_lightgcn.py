import torch
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import (
    INTERACTS,
    REV_INTERACTS,
    build_heterodata,
    split_edge_index,
)
from mde_pyg.models import BPRBatch, LightGCN


def small_graph():
    torch.manual_seed(0)
    num_users, num_items = 6, 5
    pairs = torch.tensor(
        [[0, 0, 1, 2, 2, 3, 4, 5, 5, 1], [0, 1, 1, 2, 3, 4, 0, 2, 4, 3]]
    )
    empty = torch.empty(2, 0, dtype=torch.long)
    data = build_heterodata(num_users, num_items, pairs, empty, empty)
    return num_users, num_items, pairs, LightGCN.graph_transform()(data)


def test_matches_pyg_lightgcn_on_homogeneous_graph():
    num_users, num_items, pairs, data = small_graph()
    for num_layers in (1, 2, 3):
        model = LightGCN(num_users, num_items, embedding_dim=8, num_layers=num_layers)
        reference = PyGLightGCN(num_users + num_items, 8, num_layers)
        with torch.no_grad():
            reference.embedding.weight.copy_(
                torch.cat([model.user_embedding.weight, model.item_embedding.weight])
            )
        homogeneous = torch.stack([pairs[0], pairs[1] + num_users])
        homogeneous = torch.cat([homogeneous, homogeneous.flip(0)], dim=1)
        expected = reference.get_embedding(homogeneous)
        user_emb, item_emb = model(data)
        assert torch.allclose(user_emb, expected[:num_users], atol=1e-6)
        assert torch.allclose(item_emb, expected[num_users:], atol=1e-6)


def test_loss_is_bpr_plus_frobenius_regulariser():
    num_users, num_items, _, data = small_graph()
    model = LightGCN(num_users, num_items, embedding_dim=4, reg_weight=0.5)
    batch = BPRBatch(torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([4, 0]))
    user_emb, item_emb = model(data)
    u, p, n = user_emb[batch.user], item_emb[batch.pos], item_emb[batch.neg]
    bpr = -torch.log(torch.sigmoid((u * p).sum(1) - (u * n).sum(1))).mean()
    reg = (
        model.user_embedding.weight[batch.user].norm()
        + model.item_embedding.weight[batch.pos].norm()
        + model.item_embedding.weight[batch.neg].norm()
    ) / 2
    assert torch.allclose(model.loss(data, batch), bpr + 0.5 * reg, atol=1e-6)


def test_from_data_repr_and_reset():
    data = make_synthetic(num_users=60, num_items=40, seed=1)
    data = LightGCN.graph_transform()(data)
    model = LightGCN.from_data(data, embedding_dim=16, num_layers=3)
    assert model.num_users == 60 and model.num_items == 40
    assert "num_layers=3" in repr(model) and "embedding_dim=16" in repr(model)
    before = model.user_embedding.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.user_embedding.weight)
    # Adjacencies are derived from data: they live on the data, not on the
    # model, so they cannot bloat checkpoints.
    assert dict(model.named_buffers()) == {}
    assert set(model.state_dict()) == {"user_embedding.weight", "item_embedding.weight"}
    assert model.propagation.edge_types == [INTERACTS, REV_INTERACTS]
    num_train = split_edge_index(data, "train").size(1)
    assert data[INTERACTS].adj_t.shape == (40, 60)
    assert data[REV_INTERACTS].adj_t.shape == (60, 40)
    assert num_train == data[INTERACTS].adj_t._nnz() == data[REV_INTERACTS].adj_t._nnz()
