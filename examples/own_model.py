"""Your own recommender from mde_pyg's layers, on a graph with your own node
and edge type names (customers who buy products), trained with a plain
PyTorch loop.

    python examples/own_model.py           # 30 epochs
    python examples/own_model.py --quick   # a few seconds

The model: LightGCN on the purchase graph plus MDE's modality views of the
products (HeteroGraphEncoder), fused by ModalityDiscriminationConv and
PreferenceGate, scored by dot products and trained with BPR.
"""

from __future__ import annotations

import argparse

import torch
from torch_geometric.data import HeteroData

from mde_pyg.data import (
    AddModalityGraphs,
    AddUserItemAdjacency,
    BPRSampler,
    make_synthetic,
)
from mde_pyg.evaluation import evaluate_embeddings
from mde_pyg.models import bpr_loss
from mde_pyg.nn import HeteroGraphEncoder, ModalityDiscriminationConv, PreferenceGate

BUYS = ("customer", "buys", "product")
BOUGHT_BY = ("product", "bought_by", "customer")
CO_BUYS = ("customer", "co_interacts", "customer")


def shop_data(num_users: int, num_items: int) -> tuple[HeteroData, dict]:
    """A HeteroData in *your* names, with held-out purchases kept aside."""
    synthetic = make_synthetic(num_users=num_users, num_items=num_items, seed=0)
    store = synthetic["user", "interacts", "item"]
    data = HeteroData()
    data["customer"].num_nodes = num_users
    data["product"].num_nodes = num_items
    data["product"].x_image = synthetic["item"].x_image
    data["product"].x_text = synthetic["item"].x_text
    data[BUYS].edge_index = store.edge_index
    data[BOUGHT_BY].edge_index = store.edge_index.flip(0)
    held_out = {"val": store.val_edge_label_index, "test": store.test_edge_label_index}
    return data, held_out


class ShopRecommender(torch.nn.Module):
    def __init__(self, data: HeteroData, channels: int = 64) -> None:
        super().__init__()
        self.modalities = ["image", "text"]
        self.customer = torch.nn.Embedding(data["customer"].num_nodes, channels)
        self.product = torch.nn.Embedding(data["product"].num_nodes, channels)
        torch.nn.init.xavier_uniform_(self.customer.weight)
        torch.nn.init.xavier_uniform_(self.product.weight)
        self.encoder = HeteroGraphEncoder(
            {m: data["product"][f"x_{m}"].size(1) for m in self.modalities},
            channels,
            edge_type=BUYS,
            rev_edge_type=BOUGHT_BY,
            item_edge_types={
                m: ("product", f"sim_{m}", "product") for m in self.modalities
            },
            user_edge_type=CO_BUYS,
        )
        self.discriminate = ModalityDiscriminationConv(channels, enhancement="pairwise")
        self.gate = PreferenceGate(channels, num_modalities=len(self.modalities))

    def forward(self, data: HeteroData) -> tuple[torch.Tensor, torch.Tensor]:
        features = {m: data["product"][f"x_{m}"] for m in self.modalities}
        enc = self.encoder.forward_hetero(
            data, self.customer.weight, self.product.weight, features
        )
        behaviour = torch.cat([enc.user, enc.item])
        views = torch.cat([enc.user_views, enc.item_views], dim=1)
        shared, specific, difference, _ = self.discriminate(views)
        fused, _ = self.gate(behaviour, shared, specific, difference)
        return (behaviour + fused).split([enc.user.size(0), enc.item.size(0)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="tiny data, 2 epochs")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data, held_out = shop_data(*((300, 150) if args.quick else (2000, 1000)))
    # Graphs are data: precomputed once, under your relation names.
    data = AddUserItemAdjacency(BUYS, BOUGHT_BY)(data)
    data = AddModalityGraphs(
        k=10, user_k=40, item_type="product", user_type="customer", edge_type=BUYS
    )(data)

    model = ShopRecommender(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = BPRSampler(
        data[BUYS].edge_index,
        data["customer"].num_nodes,
        data["product"].num_nodes,
        generator=torch.Generator().manual_seed(0),
    )
    for epoch in range(2 if args.quick else args.epochs):
        model.train()
        for batch in sampler:
            optimizer.zero_grad()
            user, item = model(data)
            u = user[batch.user]
            loss = bpr_loss(
                (u * item[batch.pos]).sum(-1), (u * item[batch.neg]).sum(-1)
            )
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            user, item = model(data)
        metrics = evaluate_embeddings(
            user,
            item,
            exclude_index=data[BUYS].edge_index,
            target_index=held_out["val"],
        )
        recall = metrics["recall@20"]
        print(f"epoch {epoch}: loss {loss.item():.4f}  val recall@20 {recall:.4f}")


if __name__ == "__main__":
    main()
