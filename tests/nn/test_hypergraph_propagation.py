"""HypergraphPropagation against the published layer (LGMRec's HGNNLayer),
written out per hypergraph with explicit loops over the members."""

import pytest
import torch

from mde_pyg.nn import HypergraphPropagation

NUM_MEMBERS, NUM_READERS, NUM_EDGES, DIM = 6, 4, 3, 5


def soft_incidence(*shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).softmax(-1)


def published_layer(x, incidence, reader_incidence, num_layers):
    """HGNNLayer.forward of one hypergraph, the hyperedges summed member by
    member."""
    for _ in range(num_layers):
        hyperedges = torch.zeros(NUM_EDGES, x.size(1))
        for n in range(x.size(0)):
            hyperedges += incidence[n].unsqueeze(1) * x[n]
        x = incidence @ hyperedges
    return x, reader_incidence @ hyperedges


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_matches_the_published_layer_for_every_hypergraph(num_layers):
    x = torch.randn(NUM_MEMBERS, DIM, generator=torch.Generator().manual_seed(0))
    # Two hypergraphs (e.g. modalities) over the same members.
    incidence = soft_incidence(2, NUM_MEMBERS, NUM_EDGES, seed=1)
    readers = soft_incidence(2, NUM_READERS, NUM_EDGES, seed=2)
    layer = HypergraphPropagation(num_layers)
    out, read = layer(x, incidence, readers)
    assert out.shape == (2, NUM_MEMBERS, DIM) and read.shape == (2, NUM_READERS, DIM)
    for m in range(2):
        expected = published_layer(x, incidence[m], readers[m], num_layers)
        torch.testing.assert_close(out[m], expected[0])
        torch.testing.assert_close(read[m], expected[1])
    # One hypergraph without readers; gradients reach the incidences.
    single = incidence[0].clone().requires_grad_()
    out, read = layer(x, single)
    assert read is None
    out.sum().backward()
    assert single.grad is not None and single.grad.abs().sum() > 0


def test_a_member_without_weights_neither_sends_nor_receives():
    x = torch.randn(NUM_MEMBERS, DIM)
    incidence = soft_incidence(NUM_MEMBERS, NUM_EDGES, seed=3)
    incidence[2] = 0.0
    out, _ = HypergraphPropagation(2)(x, incidence)
    torch.testing.assert_close(out[2], torch.zeros(DIM))
    changed = x.clone()
    changed[2] += 10.0
    torch.testing.assert_close(HypergraphPropagation(2)(changed, incidence)[0], out)


def test_errors_and_repr():
    with pytest.raises(ValueError, match="num_layers"):
        HypergraphPropagation(0)
    layer = HypergraphPropagation(2)
    assert list(layer.parameters()) == []
    assert repr(layer) == "HypergraphPropagation(num_layers=2)"
