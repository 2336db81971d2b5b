import math

import pytest
import torch

from mde_pyg.nn.preference_gate import PreferenceGate


def inputs(num_modalities=2, num_nodes=9, channels=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, channels, generator=gen)
    shared = torch.randn(num_nodes, channels, generator=gen)
    specific = torch.randn(num_modalities, num_nodes, channels, generator=gen)
    difference = torch.randn(num_nodes, channels, generator=gen)
    return x, shared, specific, difference


def test_default_init_is_mgcn_fusion():
    torch.manual_seed(0)
    gate = PreferenceGate(8, 2)
    x, shared, specific, difference = inputs()
    f, alpha = gate(x, shared, specific, difference)
    assert f.shape == (9, 8) and alpha.shape == (9,)
    assert torch.allclose(alpha, torch.full((9,), 1 / 3))
    assert gate.eps.item() == 0.0
    # Each gate is an independent Linear(d, d) + sigmoid on the ID embedding.
    g = [torch.sigmoid(x @ gate.weight[m].t() + gate.bias[m]) for m in range(2)]
    expected = (shared + g[0] * specific[0] + g[1] * specific[1]) / 3
    assert torch.allclose(f, expected, atol=1e-6)


def test_node_tradeoff_and_difference_term():
    torch.manual_seed(0)
    gate = PreferenceGate(8, 3)
    x, shared, specific, difference = inputs(num_modalities=3)
    with torch.no_grad():
        gate.alpha_lin.weight.normal_()
        gate.eps.fill_(0.3)
    f, alpha = gate(x, shared, specific, difference)
    expected_alpha = torch.sigmoid(
        x @ gate.alpha_lin.weight.view(-1) + gate.alpha_lin.bias
    )
    assert torch.allclose(alpha, expected_alpha, atol=1e-6)
    assert alpha.std() > 0
    g = torch.stack(
        [torch.sigmoid(x @ gate.weight[m].t() + gate.bias[m]) for m in range(3)]
    )
    a = expected_alpha.view(-1, 1)
    expected = a * shared + (1 - a) * ((g * specific).mean(0) + 0.3 * difference)
    assert torch.allclose(f, expected, atol=1e-6)
    # Without a difference tensor the eps term is absent.
    f_none, _ = gate(x, shared, specific)
    assert torch.allclose(
        f_none, a * shared + (1 - a) * (g * specific).mean(0), atol=1e-6
    )


@pytest.mark.parametrize("learn_alpha", [True, False])
def test_fixed_tradeoff(learn_alpha):
    gate = PreferenceGate(8, 2, tradeoff="fixed", alpha=0.25, learn_alpha=learn_alpha)
    assert gate.alpha_lin is None
    x, shared, specific, difference = inputs()
    f, alpha = gate(x, shared, specific, difference)
    assert torch.allclose(alpha, torch.full((9,), 0.25))
    names = {n for n, _ in gate.named_parameters()}
    assert ("alpha_logit" in names) == learn_alpha
    f.sum().backward()
    if learn_alpha:
        assert gate.alpha_logit.grad is not None and gate.alpha_logit.grad != 0
    assert f"learn_alpha={learn_alpha}" in repr(gate)


def test_reset_parameters_restores_init():
    gate = PreferenceGate(8, 2)
    with torch.no_grad():
        gate.eps.fill_(1.0)
        gate.alpha_lin.weight.fill_(0.5)
        gate.alpha_lin.bias.fill_(2.0)
    gate.reset_parameters()
    assert gate.eps.item() == 0.0
    assert torch.equal(gate.alpha_lin.weight, torch.zeros(1, 8))
    assert math.isclose(gate.alpha_lin.bias.item(), -math.log(2), rel_tol=1e-6)
    fixed = PreferenceGate(8, 2, tradeoff="fixed")
    with torch.no_grad():
        fixed.alpha_logit.fill_(3.0)
    fixed.reset_parameters()
    assert math.isclose(fixed.alpha_logit.sigmoid().item(), 1 / 3, rel_tol=1e-6)


def test_gradients_repr_and_errors():
    torch.manual_seed(0)
    gate = PreferenceGate(8, 2)
    x, shared, specific, difference = inputs()
    f, _ = gate(x, shared, specific, difference)
    f.pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gate.parameters())
    assert (
        repr(gate)
        == "PreferenceGate(8, num_modalities=2, tradeoff='node', alpha=0.3333)"
    )
    with pytest.raises(ValueError, match="tradeoff"):
        PreferenceGate(8, 2, tradeoff="bogus")
    with pytest.raises(ValueError, match="alpha"):
        PreferenceGate(8, 2, alpha=1.0)


def test_preferences_are_the_gates_of_the_fusion():
    torch.manual_seed(0)
    gate = PreferenceGate(4, 3)
    x, shared, specific = torch.randn(5, 4), torch.randn(5, 4), torch.randn(3, 5, 4)
    g = gate.preferences(x)
    expected = torch.stack(
        [torch.sigmoid(x @ gate.weight[m].t() + gate.bias[m]) for m in range(3)]
    )
    assert torch.allclose(g, expected, atol=1e-6)
    fused, alpha = gate(x, shared, specific)
    a = alpha.view(-1, 1)
    assert torch.allclose(fused, a * shared + (1 - a) * (g * specific).mean(0))
