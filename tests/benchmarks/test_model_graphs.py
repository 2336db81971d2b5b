"""The benchmark scripts build every model through :mod:`mde_pyg.pipeline`,
on the datasets of ``benchmarks/benchmark_datasets.py``: the graphs of the
model's config precomputed onto the data, then the model."""

import numpy as np
import pytest
import torch

from mde_pyg.data import make_synthetic, split_edge_index, write_inter
from mde_pyg.data.hetero import CO_INTERACTS
from mde_pyg.pipeline import add_graphs, compose_config


@pytest.fixture(scope="module")
def scripts(bench):
    names = ("benchmark_datasets", "speed", "lattice_scaling")
    return {name: bench(name) for name in names}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with a tiny ``baby_placeholder`` folder, as
    ``benchmarks/prepare_data.py --quick`` writes it."""
    root = tmp_path_factory.mktemp("datasets")
    path = root / "baby_placeholder"
    path.mkdir()
    data = make_synthetic(num_users=60, num_items=30, seed=0)
    splits = [split_edge_index(data, s) for s in ("train", "val", "test")]
    labels = [torch.full((e.size(1),), i) for i, e in enumerate(splits)]
    write_inter(
        path / "baby_placeholder.inter",
        torch.cat([e[0] for e in splits]),
        torch.cat([e[1] for e in splits]),
        torch.cat(labels),
    )
    for modality in ("image", "text"):
        np.save(path / f"{modality}_feat.npy", data["item"][f"x_{modality}"].numpy())
    return root


def test_benchmark_datasets_name_prepared_folders_under_the_root(scripts, root):
    datasets = scripts["benchmark_datasets"]
    assert {"synthetic", "ml100k", "baby", "capability"} <= set(datasets.names())
    assert datasets.folder("synthetic_large") is None
    assert datasets.folder("baby_placeholder", root) == root / "baby_placeholder"
    assert datasets.missing(["synthetic", "baby_placeholder"], root) == []
    assert datasets.missing(["sports_placeholder"], root) == ["sports_placeholder"]
    data = datasets.load("baby_placeholder", root=root)
    assert data["item"].x_image.shape == (30, 64)
    large = compose_config(datasets.overrides("synthetic_large")).dataset
    assert (large.num_users, large.num_items) == (8000, 4000)
    with pytest.raises(KeyError, match="unknown dataset 'babby'"):
        datasets.overrides("babby")


@pytest.mark.parametrize("name, user_graph", [("MDE-MGCN", False), ("MDE-paper", True)])
def test_speed_variants_build_the_graphs_they_read(scripts, name, user_graph):
    overrides, source = scripts["speed"].model_overrides(name)
    assert source.startswith("conf/model/mde.yaml + model.user_graph=")
    data = add_graphs(
        compose_config(overrides), make_synthetic(num_users=60, num_items=30, seed=0)
    )
    # The MGCN reduction has no user-user graph: none is built for it.
    assert (CO_INTERACTS in data.edge_types) is user_graph


def test_speed_worker_measures_a_pipeline_built_model(scripts, root):
    speed = scripts["speed"]
    overrides, _ = speed.model_overrides("MDE-MGCN")
    dataset = scripts["benchmark_datasets"].overrides("baby_placeholder", root)
    spec = {"overrides": [*dataset, *overrides], "device": "cpu", "epochs": 1}
    spec.update(evals=1, threads=torch.get_num_threads())
    result = speed.worker(spec)
    assert result["users"] == 60 and result["items"] == 30
    assert result["build_s"] > 0 and result["epoch_s"] > 0 and result["load_s"] > 0


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
