"""The conflict latent of make_synthetic (the ``capability`` dataset)."""

import pytest
import torch
from test_synthetic import probe_r2, recall_at, tensors

from mde_pyg.data.hetero import ITEM, split_edge_index
from mde_pyg.data.synthetic import make_synthetic


def test_no_conflict_is_the_default_dataset():
    a, b = (
        tensors(make_synthetic(300, 120, seed=3)),
        tensors(make_synthetic(300, 120, conflict_dim=0, seed=3)),
    )
    assert all(torch.equal(v, b[k]) for k, v in a.items() if torch.is_tensor(v))


def test_modalities_show_the_conflict_with_opposite_signs():
    data, latents = make_synthetic(
        400, 300, conflict_dim=4, noise=0.0, seed=1, return_latents=True
    )
    t = latents["item_conflict"]
    assert t.shape == (300, 4) and latents["user_conflict"].shape == (400, 4)
    shared = torch.cat([latents["item_shared"], t], 1)
    for k, m in enumerate(("image", "text")):
        # Rows 16..19 of P^m (after 8 shared and 8 specific) map +-t.
        p = latents["projection"][m]
        sign = -1.0 if k else 1.0
        latent = torch.cat(
            [latents["item_shared"], latents["item_specific"][m], sign * t], 1
        )
        assert torch.allclose(data[ITEM][f"x_{m}"], latent @ p, atol=1e-5)
        assert probe_r2(data[ITEM][f"x_{m}"], shared) > 0.5


def test_conflict_latent_drives_interactions():
    data, latents = make_synthetic(
        800, 300, conflict_dim=8, popularity=0.0, seed=2, return_latents=True
    )
    train, test = split_edge_index(data, "train"), split_edge_index(data, "test")
    conflict = latents["user_conflict"] @ latents["item_conflict"].t()
    assert recall_at(conflict, train, test) > 2 * 20 / 300
    with pytest.raises(ValueError, match="conflict_dim"):
        make_synthetic(100, 50, conflict_dim=-1)
