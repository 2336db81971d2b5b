import math

import torch
from torch.distributions import Normal

from mde_pyg.nn import CLUB


def log_q(club, x, y):
    """log q(y | x) of the Gaussian, written out with torch.distributions."""
    mu = x @ club.mu.weight.t() + club.mu.bias
    std = (torch.tanh(x @ club.logvar.weight.t() + club.logvar.bias) / 2).exp()
    return Normal(mu, std).log_prob(y).sum(-1)


def test_bound_matches_the_pairwise_definition():
    torch.manual_seed(0)
    club = CLUB(4)
    x, y = torch.randn(6, 4), torch.randn(6, 4)
    bound = club(x, y)
    assert bound.shape == (6,)
    # I_n = log q(y_n | x_n) - mean_k log q(y_k | x_n), over all B x B pairs.
    pairs = torch.stack([log_q(club, x, y[k].expand(6, 4)) for k in range(6)], 1)
    expected = pairs.diagonal() - pairs.mean(1)
    assert torch.allclose(bound, expected, atol=1e-5)
    # Leading dimensions of x (modalities) broadcast against y.
    stacked = club(torch.stack([x, 2 * x]), y)
    assert stacked.shape == (2, 6) and torch.allclose(stacked[0], bound)


def test_learning_loss_is_the_negative_log_likelihood():
    torch.manual_seed(0)
    club = CLUB(4)
    x, y = torch.randn(6, 4), torch.randn(6, 4)
    constant = 0.5 * 4 * math.log(2 * math.pi)
    expected = -log_q(club, x, y).mean() - constant
    assert torch.allclose(club.learning_loss(x, y), expected, atol=1e-5)


def test_the_two_objectives_move_disjoint_parameters():
    torch.manual_seed(0)
    club = CLUB(4)
    x = torch.randn(6, 4, requires_grad=True)
    y = torch.randn(6, 4, requires_grad=True)
    params = list(club.parameters())
    # The bound trains the inputs (the encoder), never the estimator ...
    grads = torch.autograd.grad(club(x, y).mean(), [x, y, *params], allow_unused=True)
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0
    assert all(g is None for g in grads[2:])
    # ... and the likelihood trains the estimator, never the inputs.
    loss = club.learning_loss(x, y)
    grads = torch.autograd.grad(loss, [x, y, *params], allow_unused=True)
    assert grads[0] is None and grads[1] is None
    assert all(g.abs().sum() > 0 for g in grads[2:])
    assert repr(club) == "CLUB(4)"
    before = club.mu.weight.clone()
    club.reset_parameters()
    assert not torch.equal(before, club.mu.weight)
