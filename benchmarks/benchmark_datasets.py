r"""The datasets the benchmarks run on, defined once, as selections of the
package's ``conf/dataset``.

Every ``conf/dataset/<name>.yaml`` (``dataset=<name>``) is a benchmark
dataset of the same name; the real ones are the folders ``mde-pyg prepare``
writes under the registry's data root (:func:`mde_pyg.data.registry.data_root`:
``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``; a script's ``--root``
overrides it). The benchmarks add a few of their own (:data:`EXTRA`): a
larger synthetic dataset, the registry's builds from the project's
raw-data folder (:data:`~mde_pyg.data.registry.SHARED_DATASETS`, made by
``benchmarks/prepare_data.py``): Baby-text, the Sports interactions alone
and the placeholder-feature folders (speed and memory only), and
``ml100k_half_text``, ml100k with the text of half its items removed, which
``benchmarks/missing_modality.py`` derives from the prepared ``ml100k``.

A run composes the overrides of :func:`overrides` with the model's and builds
through :mod:`mde_pyg.pipeline`; what a script keeps of its own is how it
measures (epoch caps, sizes) and how it reports.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from mde_pyg.data.registry import SHARED_DATASETS

#: Benchmark-only datasets: overrides of the package's dataset configs.
EXTRA: dict[str, tuple[str, ...]] = {
    "synthetic_large": (
        "dataset=synthetic",
        "dataset.num_users=8000",
        "dataset.num_items=4000",
    ),
    **{
        name: (
            "dataset=mmrec",
            f"dataset.folder=${{data_root}}/{name}",
            f"dataset.name={name}",
        )
        for name in (*SHARED_DATASETS, "ml100k_half_text")
    },
}
#: What a report says of each dataset.
DESCRIPTIONS = {
    "synthetic": "built-in planted generator, 2,000 users x 1,000 items "
    "(image 64-d, text 32-d)",
    "synthetic_large": "built-in planted generator, 8,000 users x 4,000 items",
    "capability": "planted: modality-specific latents and a latent the two "
    "modalities show with opposite signs (conf/dataset/capability.yaml)",
    "ml100k": "MovieLens-100K (real), title text (MiniLM, 384-d) and "
    "genre/decade metadata",
    "baby": "Amazon Baby, MMRec's published folder (image 4096-d, text 384-d)",
    "sports": "Amazon Sports, MMRec's published folder (image 4096-d, text 384-d)",
    "clothing": "Amazon Clothing, MMRec's published folder (image 4096-d, text 384-d)",
    "baby_text": "Amazon Baby interactions (real, published split) with the text "
    "modality only (MiniLM on titles + descriptions, 3,416 of 7,050 items "
    "have text; the others get the mean vector unless dataset.missing_features "
    "says otherwise, and the item k-NN graphs link them (MGCN, FREEDOM, MDE) or "
    "skip them (LATTICE, DRAGON, SMORE, mde_paper), as each model config "
    "says); the original image features are not available, so no image "
    "modality",
    "sports_interactions": "Amazon Sports interactions (real, MMRec split rule), "
    "no features",
    "baby_placeholder": "the real Baby interaction graph with RANDOM "
    "placeholder features of the published shapes (image 4096-d, text 384-d): "
    "speed and memory only",
    "sports_placeholder": "the real Sports interaction graph with RANDOM "
    "placeholder features of the published shapes (image 4096-d, text 384-d): "
    "speed and memory only",
    "ml100k_half_text": "MovieLens-100K (real) with the title text of a random "
    "(seeded) half of the items removed (text_mask.npy; derived from the "
    "prepared ml100k by benchmarks/missing_modality.py), genre/decade metadata "
    "of every item",
}
#: Overrides shrinking a generated dataset to a smoke test's size.
QUICK_SIZE = ("dataset.num_users=200", "dataset.num_items=100")


def quick_overrides(name: str, root: str | Path | None = None) -> tuple[str, ...]:
    """The overrides shrinking dataset ``name`` to a smoke test's size:
    :data:`QUICK_SIZE` for a generated dataset, none for a folder (it is
    the size it is)."""
    return QUICK_SIZE if folder(name, root) is None else ()


def configured() -> list[str]:
    """The package's named dataset configs (``conf/dataset/<name>.yaml``;
    ``mmrec``, which names no folder, aside)."""
    folder = resources.files("mde_pyg.conf") / "dataset"
    names = (p.name.removesuffix(".yaml") for p in folder.iterdir())
    return sorted(n for n in names if n != "mmrec" and not n.startswith("_"))


def names() -> list[str]:
    """Every dataset a benchmark can run on."""
    return [*configured(), *EXTRA]


def overrides(name: str, root: str | Path | None = None) -> list[str]:
    """The overrides of the package's config that select dataset ``name``
    (with ``root``, the data root its folder is under).

    Raises:
        KeyError: for a name that is not one of :func:`names`.
    """
    if name in EXTRA:
        selected = list(EXTRA[name])
    elif name in configured():
        selected = [f"dataset={name}"]
    else:
        raise KeyError(f"unknown dataset '{name}' (choose from {names()})")
    return [*selected, *([f"data_root={Path(root).expanduser()}"] if root else [])]


def describe(name: str) -> str:
    """A report's description of dataset ``name``."""
    return DESCRIPTIONS.get(name, f"`dataset={name}`")


def folder(name: str, root: str | Path | None = None) -> Path | None:
    """The prepared folder dataset ``name`` reads (none for a generated
    one)."""
    from mde_pyg.pipeline import compose_config

    cfg = compose_config(overrides(name, root))
    path = cfg.dataset.get("folder")
    return Path(path).expanduser() if path is not None else None


def missing(selected: list[str], root: str | Path | None = None) -> list[str]:
    """The datasets of ``selected`` whose prepared folder does not exist."""
    return [
        name
        for name in selected
        if (path := folder(name, root)) is not None and not path.is_dir()
    ]


def load(name: str, *extra: str, root: str | Path | None = None) -> Any:
    """Dataset ``name`` as ``mde-pyg train`` builds it (``extra``: more
    ``dataset.*`` overrides, e.g. :data:`QUICK_SIZE`)."""
    from mde_pyg.pipeline import build_dataset, compose_config

    return build_dataset(compose_config([*overrides(name, root), *extra]))
