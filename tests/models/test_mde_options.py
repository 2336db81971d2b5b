"""The options of the design study (issue "MDE that earns its name"): the
loss-level node trade-off, the differentiation terms and the
modality-specific supervision, each against a straightforward computation."""

import pytest
import torch
import torch.nn.functional as F
from model_helpers import make_batch
from test_mde import DIM, MGCN, make_data, set_weights

from mde_pyg.data.hetero import USER
from mde_pyg.models import MDE, PAPER_OPTIONS
from mde_pyg.models.base import bpr_loss

OPTIONS = [
    dict(diff_loss="orthogonal"),
    dict(diff_loss="club"),
    dict(lambda_tradeoff=0.0, lambda_specific=0.0),
]


def build(seed=0, modalities=None, **kwargs):
    """Data and MDE with the paper reconstruction's options (node-level
    alpha, the pairwise difference), then ``kwargs``. The same seed gives the
    same parameters; a CLUB estimator (``diff_loss="club"``) comes on top of
    those of the same model without it."""
    torch.manual_seed(seed)
    data = make_data(modalities=modalities)
    options = {**PAPER_OPTIONS, **kwargs}
    model = MDE.from_data(data, embedding_dim=DIM, **options)
    if model.club is not None:
        torch.manual_seed(seed)
        make_data(modalities=modalities)  # the same random state as above
        plain = {**options, "diff_loss": "pairwise_cos"}
        twin = MDE.from_data(data, embedding_dim=DIM, **plain)
        missing, unexpected = model.load_state_dict(twin.state_dict(), strict=False)
        assert not unexpected and all(k.startswith("club.") for k in missing)
    return data, model


def node_sets(data, batch):
    return (batch.pos + data[USER].num_nodes, batch.user)


def per_node_alignment(views, nodes, tau):
    """Symmetric in-batch InfoNCE between the two views, per node."""
    a = F.normalize(views[0, nodes], dim=1)
    b = F.normalize(views[1, nodes], dim=1)
    logits = a @ b.t() / tau
    diag = logits.diagonal()
    return 0.5 * ((logits.logsumexp(1) - diag) + (logits.logsumexp(0) - diag))


def per_node_orthogonality(state, nodes):
    """Mean over modalities of cos^2(delta^m_n, s_n), with an explicit loop."""
    cos = [
        F.cosine_similarity(state.specific[m, nodes], state.shared[nodes], dim=1)
        for m in range(state.specific.size(0))
    ]
    return sum(c.pow(2) for c in cos) / len(cos)


@pytest.mark.parametrize("options", OPTIONS)
def test_options_off_are_the_default(options):
    data, default = build()
    _, model = build(**options)
    batch = make_batch(data)
    assert torch.equal(model.loss(data, batch), default.loss(data, batch))
    assert all(torch.equal(a, b) for a, b in zip(model(data), default(data)))


def test_tradeoff_loss_matches_independent_computation():
    data, model = build(diff_loss="orthogonal", lambda_tradeoff=0.7)
    with torch.no_grad():
        model.gate.alpha_lin.weight.normal_()
    batch = make_batch(data)
    state = model.encode(data)
    expected = 0.0
    for nodes in node_sets(data, batch):
        alpha = state.alpha[nodes]
        align = per_node_alignment(state.views, nodes, model.tau)
        diff = per_node_orthogonality(state, nodes)
        expected = expected + (alpha * align + (1 - alpha) * diff).mean()
    # build() re-seeds: the default model with the same alpha layer.
    with torch.no_grad():
        reference = build()[1]
        reference.gate.alpha_lin.load_state_dict(model.gate.alpha_lin.state_dict())
    term = (model.loss(data, batch) - reference.loss(data, batch)) / 0.7
    assert torch.allclose(term, expected, atol=1e-5)


def test_tradeoff_guard_alpha_gets_no_gradient_from_the_tradeoff():
    data, model = build(diff_loss="orthogonal", lambda_tradeoff=1.0)
    batch = make_batch(data)
    state = model.encode(data)
    term = sum(model._tradeoff(state, n) for n in node_sets(data, batch))
    alpha_params = list(model.gate.alpha_lin.parameters())
    grads = torch.autograd.grad(
        term, alpha_params, retain_graph=True, allow_unused=True
    )
    assert all(g is None or g.abs().max() == 0 for g in grads)
    # The term trains the encoder; the ranking loss still trains alpha.
    grad = torch.autograd.grad(term, model.item_embedding.weight)[0]
    assert grad.abs().sum() > 0
    grad = torch.autograd.grad(model.loss(data, batch), alpha_params[0])[0]
    assert grad.abs().sum() > 0


def test_orthogonal_diff_loss_matches_independent_computation():
    data, model = build(**{**MGCN, "diff_loss": "orthogonal", "lambda_diff": 0.3})
    _, base = build(**MGCN)
    batch = make_batch(data)
    term = (model.loss(data, batch) - base.loss(data, batch)) / 0.3
    state = model.encode(data)
    expected = sum(
        per_node_orthogonality(state, n).mean() for n in node_sets(data, batch)
    )
    assert torch.allclose(term, expected, atol=1e-5)


def test_club_diff_loss_and_its_estimator():
    data, model = build(**{**MGCN, "diff_loss": "club", "lambda_diff": 0.3})
    _, base = build(**MGCN)
    batch = make_batch(data)
    state = model.encode(data)
    bound = sum(
        model.club(state.specific[:, n], state.shared[n]).mean()
        for n in node_sets(data, batch)
    )
    rows = torch.cat([batch.user, batch.pos + data[USER].num_nodes])
    fit = model.club.learning_loss(state.specific[:, rows], state.shared[rows])
    loss = model.loss(data, batch)
    assert torch.allclose(loss - base.loss(data, batch), 0.3 * bound + fit, atol=1e-5)
    # The estimator learns (by its likelihood), and the bound reaches the encoder.
    loss.backward()
    assert all(p.grad.abs().sum() > 0 for p in model.club.parameters())
    assert model.item_embedding.weight.grad.abs().sum() > 0


def test_specific_supervision_matches_independent_computation():
    data, model = build(lambda_specific=0.4, **MGCN)
    _, base = build(**MGCN)
    batch = make_batch(data)
    term = (model.loss(data, batch) - base.loss(data, batch)) / 0.4
    state = model.encode(data)
    num_users, gate = data[USER].num_nodes, model.gate
    expected = 0.0
    for m in range(len(model.modalities)):
        g = torch.sigmoid(state.behaviour @ gate.weight[m].t() + gate.bias[m])
        part = g * state.specific[m]
        u, p = part[batch.user], part[batch.pos + num_users]
        n = part[batch.neg + num_users]
        expected = expected + bpr_loss((u * p).sum(1), (u * n).sum(1)) / 2
    assert torch.allclose(term, expected, atol=1e-5)
    model.loss(data, batch).backward()
    assert gate.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("diff_loss", ["pairwise_cos", "orthogonal", "club"])
def test_one_modality_has_nothing_to_differentiate(diff_loss):
    options = dict(diff_loss=diff_loss, modalities={"text": 8})
    data, base = build(**options)
    _, model = build(lambda_tradeoff=0.5, lambda_diff=0.5, **options)
    batch = make_batch(data)
    loss = model.loss(data, batch)
    if model.club is not None:  # its estimator still fits q(s | delta = 0)
        state = model.encode(data)
        rows = torch.cat([batch.user, batch.pos + data[USER].num_nodes])
        loss = loss - model.club.learning_loss(
            state.specific[:, rows], state.shared[rows]
        )
    assert torch.allclose(loss, base.loss(data, batch), atol=1e-6)
    set_weights(model, tradeoff=0.0, diff=0.0, specific=1.0)
    # delta = 0: every score of the specific parts is 0, BPR is log 2.
    expected = base.loss(data, batch) + torch.log(torch.tensor(2.0))
    assert torch.allclose(model.loss(data, batch), expected, atol=1e-6)


def test_invalid_diff_loss_and_repr():
    data, model = build(diff_loss="club")
    assert "diff_loss='club'" in repr(model)
    with pytest.raises(ValueError, match="diff_loss"):
        MDE.from_data(data, diff_loss="cosine")
