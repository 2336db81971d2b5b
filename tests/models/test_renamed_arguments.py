"""Renamed arguments and attributes keep their old names as deprecated
aliases: the old keyword builds the same model as the new one, with a
DeprecationWarning naming the new name."""

import inspect

import pytest
import torch
from test_freedom import make_data as freedom_data
from test_mde import DIM
from test_mde import make_data as mde_data

from mde_pyg.deprecation import renamed_arguments
from mde_pyg.models import FREEDOM, MDE, MGCN
from mde_pyg.nn import ModalityDiscriminationConv, PreferenceGate

CASES = [
    (MDE, mde_data, "diff", "enhancement", "pairwise"),
    (MGCN, mde_data, "cl_loss", "lambda_align", 0.1),
    (FREEDOM, freedom_data, "reg_weight", "lambda_modality_bpr", 1e-3),
]


def same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("cls, make_data, old, new, value", CASES)
def test_old_keyword_builds_the_same_model(cls, make_data, old, new, value):
    data = make_data()
    torch.manual_seed(0)
    model = cls.from_data(data, embedding_dim=DIM, **{new: value})
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match=f"'{old}' is deprecated, use '{new}'"):
        aliased = cls.from_data(data, embedding_dim=DIM, **{old: value})
    assert repr(aliased) == repr(model) and same_state(aliased, model)
    with pytest.raises(TypeError, match=f"both '{old}' and '{new}'"):
        cls.from_data(data, **{old: value, new: value})


def test_old_attribute_names_read_and_write_the_new_ones():
    conv = ModalityDiscriminationConv(8, enhancement="amplify")
    with pytest.warns(DeprecationWarning, match="use .enhancement"):
        assert conv.diff == "amplify"
    model = FREEDOM.from_data(freedom_data(), embedding_dim=DIM)
    with pytest.warns(DeprecationWarning, match="use .lambda_modality_bpr"):
        model.reg_weight = 0.5
    assert model.lambda_modality_bpr == 0.5
    mgcn = MGCN.from_data(mde_data(), embedding_dim=DIM, lambda_align=0.1)
    with pytest.warns(DeprecationWarning, match="use .weights.align"):
        assert mgcn.cl_loss == 0.1


def test_layer_arguments_keep_their_old_names():
    with pytest.warns(DeprecationWarning, match="'diff' is deprecated"):
        conv = ModalityDiscriminationConv(8, diff="none")
    assert conv.enhancement == "none" and conv.phi is None
    torch.manual_seed(0)
    gate = PreferenceGate(8, 2)
    with torch.no_grad():
        gate.eps.fill_(0.5)
    x, shared, difference = torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, 8)
    specific = torch.randn(2, 5, 8)
    expected = gate(x, shared, specific, difference=difference)
    with pytest.warns(DeprecationWarning, match="use 'difference'"):
        got = gate(x, shared, specific, diff=difference)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_renamed_arguments_keeps_the_new_signature():
    @renamed_arguments(old="new")
    def f(new=1):
        return new

    assert f(new=2) == 2 and f.renamed_arguments == {"old": "new"}
    with pytest.warns(DeprecationWarning):
        assert f(old=3) == 3
    assert list(inspect.signature(f).parameters) == ["new"]
