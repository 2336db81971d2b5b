import pytest
import torch
import torch.nn.functional as F

from mde_pyg.models.losses import all_node_info_nce, contrast, info_nce


def unit_rows(*shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    return F.normalize(x, dim=-1).requires_grad_()


def cross_entropy_reference(anchors, candidates, tau, target):
    logits = anchors @ candidates.transpose(-1, -2) / tau
    num = logits.size(-1)
    loss = F.cross_entropy(
        logits.reshape(-1, num), target.reshape(-1), reduction="none"
    )
    return loss.view(logits.shape[:-1])


@pytest.mark.parametrize("tau", [0.2, 1.0, 0.01])  # softmax, softmax, log-softmax
@pytest.mark.parametrize("shape", [(), (3,)])
@pytest.mark.parametrize("targets", [False, True])
def test_contrast_is_the_cross_entropy_of_the_cosine_scores(tau, shape, targets):
    anchors, candidates = unit_rows(*shape, 5, 4), unit_rows(*shape, 7, 4, seed=1)
    if targets:
        target = torch.randint(
            7, (*shape, 5), generator=torch.Generator().manual_seed(2)
        )
    else:
        candidates = unit_rows(*shape, 5, 4, seed=1)
        target = torch.arange(5).expand(*shape, 5)
    grad = torch.randn(*shape, 5, dtype=torch.float64)
    expected = cross_entropy_reference(anchors, candidates, tau, target)
    got = contrast(anchors, candidates, tau, target if targets else None)
    assert torch.allclose(got, expected)
    for want, have in zip(
        torch.autograd.grad(expected, (anchors, candidates), grad),
        torch.autograd.grad(got, (anchors, candidates), grad),
    ):
        assert torch.allclose(have, want)


def test_contrast_passes_gradcheck_and_repeats_its_backward():
    anchors, candidates = unit_rows(2, 4, 3), unit_rows(2, 6, 3, seed=1)
    target = torch.tensor([[0, 5, 5, 2], [1, 1, 3, 0]])
    assert torch.autograd.gradcheck(
        lambda a, c: contrast(a, c, 0.5, target), (anchors, candidates)
    )
    loss = contrast(anchors, candidates, 0.5, target).sum()
    first = torch.autograd.grad(loss, (anchors, candidates), retain_graph=True)
    second = torch.autograd.grad(loss, (anchors, candidates))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("symmetric", [False, True])
def test_info_nce_matches_the_softmax_formula(symmetric):
    torch.manual_seed(0)
    a, b = torch.randn(2, 7, 4, dtype=torch.float64).unbind(0)
    weight = torch.rand(7, dtype=torch.float64)

    def one_way(x, y):
        sim = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T / 0.2
        return -(sim.diagonal().exp() / sim.exp().sum(-1)).log()

    expected = one_way(a, b)
    if symmetric:
        expected = 0.5 * (expected + one_way(b, a))
    got = info_nce(a, b, 0.2, weight, symmetric=symmetric)
    assert torch.allclose(got, (expected * weight).mean())


def test_all_node_info_nce_matches_the_softmax_formula():
    torch.manual_seed(0)
    anchor, nodes = (
        torch.randn(2, 4, 3, dtype=torch.float64),
        torch.randn(2, 9, 3, dtype=torch.float64),
    )
    index = torch.tensor([8, 0, 3, 3])
    sim = (
        F.normalize(anchor, dim=-1) @ F.normalize(nodes, dim=-1).transpose(-1, -2) / 0.2
    )
    expected = -(
        sim.gather(-1, index.expand(2, 4).unsqueeze(-1)).squeeze(-1).exp()
        / sim.exp().sum(-1)
    ).log()
    assert torch.allclose(
        all_node_info_nce(anchor, nodes, index, 0.2), expected.sum(-1)
    )
