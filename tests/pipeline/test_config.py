import pytest

from mde_pyg.errors import ConfigError
from mde_pyg.models import LightGCN
from mde_pyg.pipeline.config import check_kwargs, signature_of
from mde_pyg.training import Trainer


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match="Unknown key 'trainer.lrr'.*batch_size.*lr"):
        check_kwargs("trainer", {"lrr": 0.1}, Trainer, provided=("model", "data"))


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match="'trainer.lr' must be of type float.*'abc'"):
        check_kwargs("trainer", {"lr": "abc"}, Trainer)
    with pytest.raises(ConfigError, match="'trainer.patience' must be of type int"):
        check_kwargs("trainer", {"patience": "many"}, Trainer)
    check_kwargs("trainer", {"lr": 1, "k": [5], "eval_chunk_size": 128}, Trainer)


def test_from_data_factories_are_checked_against_the_constructor():
    assert "num_layers" in signature_of("mde_pyg.models.LightGCN.from_data").parameters
    check_kwargs("model", {"_target_": "x", "num_layers": 3}, LightGCN.from_data)
    with pytest.raises(ConfigError, match="Unknown key 'model.layers'"):
        check_kwargs("model", {"layers": 3}, LightGCN.from_data)
