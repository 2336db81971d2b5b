import inspect
import warnings

import pytest
from omegaconf import OmegaConf

from mde_pyg.errors import ConfigError
from mde_pyg.models import FREEDOM, MDE, MGCN, LightGCN
from mde_pyg.pipeline import compose_config, config_names
from mde_pyg.pipeline.config import check_kwargs, rejected_values, signature_of
from mde_pyg.pipeline.renamed_keys import (
    ADDED_KEYS,
    RENAMED_KEYS,
    RenamedKeyWarning,
    add_config_keys,
    rename_config_keys,
    rename_overrides,
)
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


# ---------------------------------------------------------------- renamed keys
def renamed(overrides):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = rename_overrides(overrides)
    messages = [str(w.message) for w in caught if w.category is RenamedKeyWarning]
    return out, messages


def test_every_renamed_key_is_a_renamed_constructor_argument():
    classes = {"MDE": MDE, "MGCN": MGCN, "FREEDOM": FREEDOM}
    for old, new in RENAMED_KEYS.items():
        scope, key = old.split(":")
        section, old_name = key.split(".")
        assert new.split(".")[0] == section == "model"
        init = classes[scope].__init__
        assert init.renamed_arguments[old_name] == new.split(".")[1]
        params = inspect.signature(init).parameters
        assert new.split(".")[1] in params and old_name not in params


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["model=mgcn", "model.cl_loss=0.1"], ["model=mgcn", "model.lambda_align=0.1"]),
        (
            ["+model.cl_loss=0.1", "model=mgcn"],
            ["+model.lambda_align=0.1", "model=mgcn"],
        ),
        (["model=mgcn", "++model.cl_loss=1"], ["model=mgcn", "++model.lambda_align=1"]),
        (["model=mgcn", "~model.cl_loss"], ["model=mgcn", "~model.lambda_align"]),
        # A sweep keeps its values; so does Hydra's sweeper section.
        (
            ["model=freedom", "model.reg_weight=0,1e-5,1e-4"],
            ["model=freedom", "model.lambda_modality_bpr=0,1e-5,1e-4"],
        ),
        (
            ["model=freedom", "hydra.sweeper.params.model.reg_weight=0,1e-4"],
            ["model=freedom", "hydra.sweeper.params.model.lambda_modality_bpr=0,1e-4"],
        ),
        # The model is the default one (mde), or chosen by an experiment or study.
        (["model.diff=amplify"], ["model.enhancement=amplify"]),
        (
            ["study=mgcn_club", "model.diff=none"],
            ["study=mgcn_club", "model.enhancement=none"],
        ),
        (
            ["experiment=freedom_grid", "model.reg_weight=1e-3"],
            ["experiment=freedom_grid", "model.lambda_modality_bpr=1e-3"],
        ),
        (
            ["model=mgcn,mgcn", "model.cl_loss=choice(0.1,0.2)"],
            ["model=mgcn,mgcn", "model.lambda_align=choice(0.1,0.2)"],
        ),
    ],
)
def test_rename_overrides_rewrites_deprecated_keys_with_a_warning(overrides, expected):
    out, messages = renamed(overrides)
    assert out == expected
    assert len(messages) == 1
    old = next(o for o in overrides if o not in expected)
    assert f"'{old}'" in messages[0] and "deprecated" in messages[0]


@pytest.mark.parametrize(
    "overrides",
    [
        # reg_weight is the L2 weight of every model but FREEDOM.
        ["model.reg_weight=1e-3"],
        ["model=lightgcn", "model.reg_weight=1e-3"],
        ["model=mgcn", "model.reg_weight=1e-3"],
        ["experiment=mgcn_grid", "model.reg_weight=1e-3"],
        # Not every model of the sweep is FREEDOM; an unknown model is left alone.
        ["model=freedom,lattice", "model.reg_weight=1e-3"],
        ["model=mine", "model.reg_weight=1e-3"],
        # cl_loss and diff are renamed for MGCN and MDE only.
        ["model.cl_loss=0.1"],
        ["model=mgcn", "model.diff=none"],
        # Other keys, group choices and values are kept.
        ["model=mgcn", "model.lambda_align=0.1", "seed=3", "trainer.lr=1e-3"],
        ["model=freedom", "dataset.name=reg_weight"],
        ["model=mgcn", "model.cl_loss_x=1"],
    ],
)
def test_rename_overrides_keeps_what_is_not_renamed(overrides):
    assert renamed(overrides) == (overrides, [])


def test_renamed_overrides_compose_to_the_new_config():
    out, _ = renamed(["model=mgcn", "model.cl_loss=0.1"])
    assert compose_config(out).model.lambda_align == 0.1
    out, _ = renamed(["experiment=freedom_grid", "model.reg_weight=1e-3"])
    assert compose_config(out).model.lambda_modality_bpr == 1e-3


def test_rename_config_keys_renames_in_place_keeping_the_order():
    config = {
        "model": {
            "_target_": "mde_pyg.models.MGCN.from_data",
            "embedding_dim": 64,
            "cl_loss": 0.1,
            "reg_weight": 1e-4,
        },
        "trainer": {"lr": 1e-3},
    }
    lines = rename_config_keys(config)
    assert list(config["model"]) == [
        "_target_",
        "embedding_dim",
        "lambda_align",
        "reg_weight",
    ]
    assert config["model"]["lambda_align"] == 0.1
    assert config["trainer"] == {"lr": 1e-3}
    assert len(lines) == 1 and "'model.cl_loss'" in lines[0]
    assert "'model.lambda_align'" in lines[0]
    assert rename_config_keys(config) == []  # nothing left to rename


def test_rename_config_keys_follows_the_target():
    freedom = {"_target_": "mde_pyg.models.FREEDOM.from_data", "reg_weight": 0.1}
    lightgcn = {"_target_": "mde_pyg.models.LightGCN.from_data", "reg_weight": 0.1}
    mde = {"_target_": "mde_pyg.models.MDE.from_data", "diff": "pairwise"}
    config = {"model": freedom}
    assert len(rename_config_keys(config)) == 1
    assert config["model"] == {
        "_target_": "mde_pyg.models.FREEDOM.from_data",
        "lambda_modality_bpr": 0.1,
    }
    config = {"model": dict(lightgcn)}
    assert rename_config_keys(config) == [] and config["model"] == lightgcn
    config = {"model": mde}
    assert len(rename_config_keys(config)) == 1
    assert config["model"]["enhancement"] == "pairwise"


def test_rename_config_keys_refuses_both_names():
    config = {
        "model": {
            "_target_": "mde_pyg.models.MGCN.from_data",
            "cl_loss": 0.1,
            "lambda_align": 0.1,
        }
    }
    with pytest.raises(ConfigError, match="'model.cl_loss'.*'model.lambda_align'"):
        rename_config_keys(config)


def test_a_run_folder_config_written_before_the_rename_builds(tmp_path):
    # The config.yaml of a run made before the rename, loaded as a plain dict.
    cfg = compose_config(["model=mgcn"])
    old = OmegaConf.to_container(cfg, resolve=False)
    old["model"] = {
        ("cl_loss" if k == "lambda_align" else k): v for k, v in old["model"].items()
    }
    path = tmp_path / "config.yaml"
    OmegaConf.save(OmegaConf.create(old), path)
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert rename_config_keys(loaded)
    assert OmegaConf.to_container(cfg.model) == loaded["model"]


def test_unknown_key_names_its_new_name():
    with pytest.raises(
        ConfigError, match="'model.cl_loss' \\(renamed to 'model.lambda_align'\\)"
    ):
        check_kwargs("model", {"cl_loss": 0.1}, "mde_pyg.models.MGCN.from_data")
    with pytest.raises(ConfigError, match="Unknown key 'model.cl_loss'. Valid"):
        check_kwargs("model", {"cl_loss": 0.1}, "mde_pyg.models.MDE.from_data")


def test_add_config_keys_gives_an_older_config_the_earlier_behaviour():
    older = {"model": {"k": 10, "graphs": {"k": 10}}}
    current = {"model": {"k": 10, "graphs": {"k": 10, "skip_missing": False}}}
    add_config_keys(older, current)
    # The value that behaves as before the key existed, not the current one.
    assert older == {"model": {"k": 10, "graphs": {"k": 10, "skip_missing": True}}}
    # Nothing the reading run lacks, nothing the config already has.
    lightgcn = {"model": {"graphs": {}}}
    add_config_keys(lightgcn, {"model": {"graphs": {}}})
    assert lightgcn == {"model": {"graphs": {}}}
    kept = {"model": {"graphs": {"skip_missing": False}}}
    add_config_keys(kept, current)
    assert kept["model"]["graphs"]["skip_missing"] is False
    assert set(ADDED_KEYS) >= {"model.graphs.skip_missing", "model.skip_missing"}


def test_config_names_lists_the_package_configs_of_a_group():
    models = config_names("model")
    assert models == sorted(models)
    assert {"lightgcn", "mde", "mde_paper", "smore"} <= set(models)
    assert "mmrec" in config_names("dataset") and "mmrec" not in models
    assert not [name for name in models if name.endswith(".yaml")]


def _instantiated(error):
    """``error`` as Hydra's ``instantiate`` raises it: wrapped."""
    from hydra.errors import InstantiationException

    wrapper = InstantiationException("Error in call to target 'x'")
    wrapper.__cause__ = error
    return wrapper


@pytest.mark.parametrize("wrap", [False, True])
def test_a_rejected_value_is_a_config_error_naming_the_section(wrap):
    rejection = ValueError("'dropout' must be in [0, 1) (got 1.5)")
    with pytest.raises(ConfigError) as raised, rejected_values("model"):
        raise _instantiated(rejection) if wrap else rejection
    assert str(raised.value) == "model: 'dropout' must be in [0, 1) (got 1.5)"
    assert raised.value.__cause__ is rejection


@pytest.mark.parametrize("wrap", [False, True])
def test_other_errors_pass_rejected_values_unchanged(wrap):
    # A user error already says what it means; anything else is a bug and
    # keeps its traceback.
    for error in (ConfigError("dataset: no such folder"), TypeError("a bug")):
        raised_error = _instantiated(error) if wrap else error
        with pytest.raises(type(raised_error)) as raised, rejected_values("model"):
            raise raised_error
        assert raised.value is raised_error
