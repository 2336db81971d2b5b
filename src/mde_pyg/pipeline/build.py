"""From a composed config to what a run trains: the dataset, the graphs its
model reads, and the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from torch_geometric.data import HeteroData

from mde_pyg.data.files import file_digest
from mde_pyg.data.hetero import item_features
from mde_pyg.data.layout import FEATURE_SUFFIX, MASK_SUFFIX
from mde_pyg.data.missing import check_missing_features
from mde_pyg.errors import ConfigError, DatasetError
from mde_pyg.models.base import MultiModalRecommender, Recommender
from mde_pyg.pipeline.config import check_kwargs, local_path, rejected_values


def build_dataset(cfg: DictConfig) -> HeteroData:
    """Instantiates ``cfg.dataset`` with paths resolved against the launch
    directory, after checking its keys (and a ``missing_features`` rule,
    the dataset's or the one its model asks for: a
    :class:`~mde_pyg.errors.ConfigError` that names the choices)."""
    _check_asked_of_dataset(cfg)
    section = OmegaConf.to_container(cfg.dataset, resolve=True)
    check_kwargs("dataset", section, section["_target_"])
    if "missing_features" in section:
        check_missing_features(section["missing_features"], "dataset.missing_features")
    if section.get("folder") is not None:
        section["folder"] = local_path(section["folder"])
    with rejected_values("dataset"):
        return instantiate(section)


def model_section(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """``cfg.model`` without its ``graphs`` options and the settings it asks
    of other sections (``trainer``, read by ``conf/trainer``; ``dataset``,
    read by ``conf/dataset``), and the ``graphs`` options."""
    section = OmegaConf.to_container(cfg.model, resolve=True)
    section.pop("trainer", None)
    section.pop("dataset", None)
    return section, section.pop("graphs", None) or {}


#: What a model config may ask of the dataset section (``model.dataset``,
#: which ``conf/dataset`` reads where the dataset leaves it to the model).
MODEL_DATASET_KEYS = ("missing_features",)


def _check_asked_of_dataset(cfg: DictConfig) -> None:
    """Raises :class:`~mde_pyg.errors.ConfigError` for a key of
    ``model.dataset`` that no dataset config reads, or an unknown
    ``model.dataset.missing_features`` rule."""
    asked = cfg.model.get("dataset") or {}
    for key in asked:
        if key not in MODEL_DATASET_KEYS:
            raise ConfigError(
                f"'model.dataset.{key}' is not a setting a model can ask of its "
                f"dataset (valid: {', '.join(MODEL_DATASET_KEYS)})"
            )
    if "missing_features" in asked:
        check_missing_features(
            asked["missing_features"], "model.dataset.missing_features"
        )


def add_graphs(cfg: DictConfig, data: HeteroData) -> HeteroData:
    """Precomputes onto ``data`` the graphs the model of ``cfg`` reads: its
    class's ``graph_transform`` with the options of ``cfg.model.graphs``."""
    section, options = model_section(cfg)
    model_cls = get_method(section["_target_"]).__self__
    check_kwargs("model.graphs", options, model_cls.graph_transform)
    # Before the transform, whose graphs of the features would fail less clearly.
    _check_modalities(cfg, model_cls, data)
    if options.get("cache_dir") is not None:
        options["cache_dir"] = local_path(options["cache_dir"])
    with rejected_values("model.graphs"):
        return model_cls.graph_transform(**options)(data)


def build_data(cfg: DictConfig) -> HeteroData:
    """The dataset of ``cfg`` with the graphs its model reads."""
    return add_graphs(cfg, build_dataset(cfg))


def build_model(cfg: DictConfig, data: HeteroData) -> Recommender:
    """Instantiates ``cfg.model`` on ``data`` through the model's
    ``from_data`` factory."""
    section, _ = model_section(cfg)
    target = get_method(section["_target_"])
    check_kwargs(
        "model", section, target, provided=("num_users", "num_items", "features")
    )
    _check_modalities(cfg, getattr(target, "__self__", None), data)
    with rejected_values("model"):
        return instantiate(section, data=data, _convert_="all")


def _check_modalities(cfg: DictConfig, model_cls: Any, data: HeteroData) -> None:
    """Raises :class:`~mde_pyg.errors.DatasetError` if ``model_cls`` reads
    item features and ``data`` has none."""
    if (
        isinstance(model_cls, type)
        and issubclass(model_cls, MultiModalRecommender)
        and not item_features(data)
    ):
        raise DatasetError(_no_modality(cfg.dataset, model_cls.__name__))


def _no_modality(dataset: DictConfig, model: str) -> str:
    """Why a dataset without item features cannot train ``model``."""
    folder = dataset.get("folder")
    if folder is None:
        return (
            f"{model} needs at least one item feature modality and the dataset "
            "has none (choose model=lightgcn)"
        )
    folder = Path(local_path(folder))
    others = sorted(p.name for p in folder.glob("*.npy"))
    found = f"; found {', '.join(others)}, named otherwise" if others else ""
    return (
        f"{folder}: {model} needs at least one item feature modality, and the "
        f"folder holds no <modality>{FEATURE_SUFFIX} (e.g. image{FEATURE_SUFFIX})"
        f"{found}: add or rename one, or choose model=lightgcn"
    )


def dataset_files(cfg: DictConfig) -> dict[str, str]:
    """The SHA-1 of each file the dataset section ``cfg`` reads, mask files
    included (none for a generated dataset)."""
    folder = cfg.get("folder")
    if folder is None:
        return {}
    folder = Path(local_path(folder))
    name = cfg.get("name") or folder.name
    paths = [
        folder / f"{name}.inter",
        *sorted(folder.glob(f"*{FEATURE_SUFFIX}")),
        *sorted(folder.glob(f"*{MASK_SUFFIX}")),
    ]
    return {str(path): file_digest(path) for path in paths if path.is_file()}
