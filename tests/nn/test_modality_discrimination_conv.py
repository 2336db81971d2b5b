import itertools

import pytest
import torch

from mde_pyg.nn import ModalityDiscriminationConv, modality_pairs


def views(num_modalities=3, num_nodes=7, channels=8, seed=0):
    return torch.randn(
        num_modalities,
        num_nodes,
        channels,
        generator=torch.Generator().manual_seed(seed),
    )


def test_shared_and_specific_parts():
    torch.manual_seed(0)
    conv = ModalityDiscriminationConv(8, enhancement="none")
    z = views()
    s, delta, Delta, beta = conv(z)
    assert s.shape == (7, 8) and delta.shape == (3, 7, 8)
    assert Delta.shape == (7, 8) and beta.shape == (7, 3)
    # Independent computation: beta = softmax_m(q^T tanh(W_q z + b_q)).
    score = torch.stack(
        [
            torch.tanh(z[m] @ conv.att_lin.weight.t() + conv.att_lin.bias)
            @ conv.att_query.weight.view(-1)
            for m in range(3)
        ],
        dim=1,
    )
    expected_beta = score.softmax(dim=1)
    assert torch.allclose(beta, expected_beta, atol=1e-6)
    expected_s = sum(expected_beta[:, m : m + 1] * z[m] for m in range(3))
    assert torch.allclose(s, expected_s, atol=1e-6)
    assert torch.allclose(delta, z - expected_s, atol=1e-6)
    assert torch.equal(Delta, torch.zeros(7, 8))
    assert torch.allclose(beta.sum(dim=1), torch.ones(7))


def test_pairwise_difference_matches_loop_over_pairs():
    torch.manual_seed(0)
    conv = ModalityDiscriminationConv(8)
    z = views(num_modalities=3)
    _, _, Delta, _ = conv(z)
    pairs = list(itertools.combinations(range(3), 2))
    expected = sum(
        conv.phi(torch.cat([(z[a] - z[b]).abs(), z[a] * z[b]], dim=-1))
        for a, b in pairs
    ) / len(pairs)
    assert torch.allclose(Delta, expected, atol=1e-6)


@pytest.mark.parametrize("num_modalities", [1, 2, 3, 4])
def test_modality_pairs_in_order(num_modalities):
    z = views(num_modalities=num_modalities)
    first, second = modality_pairs(z)
    pairs = list(itertools.combinations(range(num_modalities), 2))
    assert first.shape == second.shape == (len(pairs), *z.shape[1:])
    for k, (a, b) in enumerate(pairs):
        assert torch.equal(first[k], z[a]) and torch.equal(second[k], z[b])


@pytest.mark.parametrize("enhancement", ["pairwise", "amplify", "none"])
def test_single_modality(enhancement):
    conv = ModalityDiscriminationConv(8, enhancement=enhancement)
    with torch.no_grad():
        if conv.gamma is not None:
            conv.gamma.fill_(0.7)
    z = views(num_modalities=1)
    s, delta, Delta, beta = conv(z)
    assert torch.equal(s, z[0])
    assert torch.equal(delta, torch.zeros_like(z))
    assert torch.equal(Delta, torch.zeros(7, 8))
    assert torch.equal(beta, torch.ones(7, 1))


@pytest.mark.parametrize("enhancement", ["pairwise", "amplify", "none"])
def test_equivariant_in_modality_order(enhancement):
    torch.manual_seed(0)
    conv = ModalityDiscriminationConv(8, enhancement=enhancement)
    z = views(num_modalities=3)
    perm = torch.tensor([2, 0, 1])
    s, delta, Delta, beta = conv(z)
    s_p, delta_p, Delta_p, beta_p = conv(z[perm])
    assert torch.allclose(s, s_p, atol=1e-6)
    assert torch.allclose(Delta, Delta_p, atol=1e-6)
    assert torch.allclose(delta[perm], delta_p, atol=1e-6)
    assert torch.allclose(beta[:, perm], beta_p, atol=1e-6)


def test_amplify_scales_specific_parts_by_non_negative_gamma():
    conv = ModalityDiscriminationConv(8, enhancement="amplify")
    assert conv.phi is None and conv.gamma.item() == 0.0
    z = views()
    s, delta0, Delta, _ = conv(z)
    assert torch.allclose(delta0, z - s) and torch.equal(Delta, torch.zeros(7, 8))
    with torch.no_grad():
        conv.gamma.fill_(0.5)
    assert torch.allclose(conv(z)[1], 1.5 * delta0, atol=1e-6)
    with torch.no_grad():
        conv.gamma.fill_(-2.0)  # gamma = max(0, raw): never shrinks
    assert torch.allclose(conv(z)[1], delta0, atol=1e-6)
    conv.gamma.data.fill_(0.0)
    conv(z)[1].sum().backward()
    assert conv.gamma.grad is not None


def test_gradients_reset_and_repr():
    torch.manual_seed(0)
    conv = ModalityDiscriminationConv(8)
    z = views().requires_grad_()
    s, delta, Delta, _ = conv(z)
    (s.sum() + delta.pow(2).sum() + Delta.sum()).backward()
    assert all(p.grad is not None for p in conv.parameters())
    assert z.grad is not None
    before = conv.phi.weight.clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.phi.weight)
    assert repr(conv) == "ModalityDiscriminationConv(8, enhancement='pairwise')"
    assert sum(
        p.numel() for p in ModalityDiscriminationConv(8, "none").parameters()
    ) == (8 * 8 + 8 + 8)
    with pytest.raises(ValueError, match="enhancement"):
        ModalityDiscriminationConv(8, enhancement="bogus")
