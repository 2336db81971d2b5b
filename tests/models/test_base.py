import pytest
import torch

from mde_pyg.data import make_synthetic
from mde_pyg.data.hetero import ITEM, USER
from mde_pyg.models import (
    BM3,
    DRAGON,
    FREEDOM,
    LATTICE,
    MDE,
    MGCN,
    MMGCN,
    SMORE,
    VBPR,
    LGMRec,
    LightGCN,
    MultiModalRecommender,
)

MODELS = [LATTICE, FREEDOM, MGCN, MDE]


@pytest.fixture(scope="module")
def data():
    return make_synthetic(
        num_users=30, num_items=20, modalities={"image": 6, "text": 4}, seed=0
    )


@pytest.mark.parametrize("cls", MODELS)
def test_from_data_reads_users_items_and_every_modality(cls, data):
    model = cls.from_data(data, embedding_dim=8)
    assert isinstance(model, MultiModalRecommender)
    assert model.user_embedding.weight.shape == (data[USER].num_nodes, 8)
    assert model.item_embedding.weight.shape == (data[ITEM].num_nodes, 8)
    assert model.modalities == ["image", "text"]
    for modality, x in model.features.items():
        assert torch.equal(x, data[ITEM][f"x_{modality}"])
        assert x is model.feature(modality)
        # Fine-tuned copies: training never writes into the dataset's tensors.
        assert isinstance(x, torch.nn.Parameter)
        assert x.data_ptr() != data[ITEM][f"x_{modality}"].data_ptr()


@pytest.mark.parametrize("cls", MODELS)
def test_frozen_features_are_buffers_outside_the_state_dict(cls, data):
    model = cls.from_data(data, embedding_dim=8, freeze_features=True)
    names = {name for name, _ in model.named_parameters()}
    assert not {"x_image", "x_text"} & names
    assert not {"x_image", "x_text"} & set(model.state_dict())
    assert model.features["image"].requires_grad is False


@pytest.mark.parametrize("cls", MODELS)
def test_bad_features_name_the_model_and_the_modality(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__} needs at least one"):
        cls(5, 4, {})
    with pytest.raises(ValueError, match=r"'text' must have shape \[num_items=4"):
        cls(5, 4, {"image": torch.randn(4, 3), "text": torch.randn(3, 2)})


@pytest.mark.parametrize("cls", [*MODELS, VBPR, MMGCN, BM3, DRAGON, LGMRec, SMORE])
@pytest.mark.parametrize("size", [0, -4])
def test_an_embedding_size_below_one_is_refused(cls, size, data):
    with pytest.raises(
        ValueError, match=rf"'embedding_dim' must be > 0 \(got {size}\)"
    ):
        cls.from_data(data, embedding_dim=size)


def test_lightgcn_refuses_an_embedding_size_below_one():
    with pytest.raises(ValueError, match=r"'embedding_dim' must be > 0 \(got 0\)"):
        LightGCN(5, 4, embedding_dim=0)


@pytest.mark.parametrize("cls", [MGCN, MDE, LGMRec, SMORE])
@pytest.mark.parametrize("tau", [0.0, -0.2, float("nan")])
def test_a_temperature_that_is_not_positive_is_refused(cls, tau, data):
    # A zero temperature divides by zero at the first step, a negative one
    # inverts the contrast, and NaN compares false with everything.
    with pytest.raises(ValueError, match=r"'tau' must be > 0"):
        cls.from_data(data, tau=tau)
