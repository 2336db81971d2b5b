import pytest
import torch
import torch.nn.functional as F

from mde_pyg.models.losses import info_nce, softmax_cross_entropy


def cross_entropy_reference(logits):
    num = logits.size(-1)
    target = torch.arange(num).repeat(logits.numel() // num**2)
    loss = F.cross_entropy(logits.reshape(-1, num), target, reduction="none")
    return loss.view(logits.shape[:-1])


def cosine_logits(shape, tau, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a = F.normalize(
        torch.randn(*shape, 8, generator=generator, dtype=torch.float64), dim=-1
    )
    b = F.normalize(
        torch.randn(*shape, 8, generator=generator, dtype=torch.float64), dim=-1
    )
    return (a @ b.transpose(-1, -2) / tau).requires_grad_()


@pytest.mark.parametrize("tau", [0.2, 1.0, 0.005])  # bound, bound, row maxima
@pytest.mark.parametrize("shape", [(6,), (3, 6)])
def test_softmax_cross_entropy_is_cross_entropy_on_the_diagonal(tau, shape):
    logits = cosine_logits(shape, tau)
    grad = torch.randn(logits.shape[:-1], dtype=torch.float64)
    (expected_grad,) = torch.autograd.grad(
        cross_entropy_reference(logits), logits, grad
    )
    loss = softmax_cross_entropy(logits, bound=1 / tau)
    (got_grad,) = torch.autograd.grad(loss, logits, grad)
    assert torch.allclose(loss, cross_entropy_reference(logits))
    assert torch.allclose(got_grad, expected_grad)
    assert torch.isfinite(loss).all()


def test_softmax_cross_entropy_without_a_bound_and_on_arbitrary_scores():
    logits = (100 * torch.randn(2, 5, 5, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: softmax_cross_entropy(x), (logits,))
    assert torch.allclose(
        softmax_cross_entropy(logits), cross_entropy_reference(logits)
    )


def test_softmax_cross_entropy_backward_twice_gives_the_same_gradient():
    logits = cosine_logits((4,), 0.2)
    loss = softmax_cross_entropy(logits, bound=5.0).sum()
    (first,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (second,) = torch.autograd.grad(loss, logits)
    assert torch.equal(first, second)


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


@pytest.mark.parametrize("bound", [None, 5.0])
def test_softmax_cross_entropy_against_given_target_columns(bound):
    generator = torch.Generator().manual_seed(0)
    logits = torch.rand(2, 3, 7, generator=generator, dtype=torch.float64)
    logits = (10 * logits - 5).requires_grad_()  # within the bound 5
    target = torch.tensor([[6, 0, 3], [2, 2, 5]])
    expected = F.cross_entropy(
        logits.reshape(-1, 7), target.reshape(-1), reduction="none"
    ).view(2, 3)
    got = softmax_cross_entropy(logits, target, bound=bound)
    assert torch.allclose(got, expected)
    grad = torch.randn(2, 3, dtype=torch.float64)
    (expected_grad,) = torch.autograd.grad(expected, logits, grad)
    (got_grad,) = torch.autograd.grad(got, logits, grad)
    assert torch.allclose(got_grad, expected_grad)
