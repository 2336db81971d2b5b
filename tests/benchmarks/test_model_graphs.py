"""The benchmark scripts build every model the way the package does: the
graphs of the class's ``graph_transform`` (options from the ``graphs:``
section of its config) precomputed onto the data, then ``from_data``."""

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mde_pyg.models
from mde_pyg.data import make_synthetic, split_edge_index, write_inter
from mde_pyg.data.hetero import CO_INTERACTS

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = ("common", "speed", "mde_scaling", "lattice_scaling")


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(BENCHMARKS))
    yield {name: importlib.import_module(name) for name in SCRIPTS}
    for name in SCRIPTS:
        sys.modules.pop(name, None)
    sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny MMRec-format folder, as ``benchmarks/prepare_data.py`` writes."""
    path = tmp_path_factory.mktemp("tiny")
    data = make_synthetic(num_users=60, num_items=30, seed=0)
    splits = [split_edge_index(data, s) for s in ("train", "val", "test")]
    labels = [torch.full((e.size(1),), i) for i, e in enumerate(splits)]
    write_inter(
        path / f"{path.name}.inter",
        torch.cat([e[0] for e in splits]),
        torch.cat([e[1] for e in splits]),
        torch.cat(labels),
    )
    for modality in ("image", "text"):
        np.save(path / f"{modality}_feat.npy", data["item"][f"x_{modality}"].numpy())
    return path


@pytest.mark.parametrize(
    "name", ["LightGCN", "LATTICE", "MGCN", "FREEDOM", "MDE", "MDE-MGCN", "MDE-paper"]
)
def test_speed_splits_the_graph_options_off_the_model_settings(scripts, name):
    cls, kwargs, graphs, source = scripts["speed"].model_kwargs(name)
    model_cls = getattr(mde_pyg.models, cls)
    assert source.startswith(f"conf/model/{cls.lower()}.yaml")
    assert "graphs" not in kwargs and "_target_" not in kwargs
    assert set(kwargs) <= set(inspect.signature(model_cls.__init__).parameters)
    assert set(graphs) <= set(inspect.signature(model_cls.graph_transform).parameters)
    if cls == "MDE":
        # The interpolated graphs.user_graph follows the model's option.
        assert graphs["user_graph"] is kwargs["user_graph"] is (name == "MDE-paper")


def test_speed_worker_builds_the_graphs_the_variant_reads(scripts, folder):
    speed = scripts["speed"]
    cls, kwargs, graphs, _ = speed.model_kwargs("MDE-MGCN")
    spec = {"folder": str(folder), "cls": cls, "kwargs": kwargs, "graphs": graphs}
    spec.update(device="cpu", epochs=1, evals=1, threads=torch.get_num_threads())
    result = speed.worker(spec)
    assert result["build_s"] > 0 and result["epoch_s"] > 0
    # MGCN has no user-user graph: none is built for it.
    data = getattr(mde_pyg.models, cls).graph_transform(**graphs)(
        make_synthetic(num_users=60, num_items=30, seed=0)
    )
    assert CO_INTERACTS not in data.edge_types


def test_mde_scaling_checks_the_config_against_both_defaults(scripts):
    check = scripts["mde_scaling"].config_check()
    assert "identical to conf/model/mde.yaml" in check, check


@pytest.mark.parametrize("mode", ["full", "standin"])
def test_lattice_scaling_worker_restores_the_exact_searches(scripts, mode):
    import mde_pyg.data.transforms as transforms
    import mde_pyg.models.lattice as lattice

    exact = transforms.knn_graph, lattice.knn_graph
    # Sampled modes time 8 batches: 1,000 items make 9.
    cfg = {"impl": "ours", "items": 1000, "mode": mode, "epochs": 1, "threads": 1}
    result = scripts["lattice_scaling"].worker(cfg)
    assert result["n_batches"] >= 1 and result["build_s"] > 0
    assert (transforms.knn_graph, lattice.knn_graph) == exact
