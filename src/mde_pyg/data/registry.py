r"""The built-in named datasets and where their folders are.

Where the prepared folders go (the *data root*): an explicit folder (``mde-pyg
prepare --root``), else ``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``.
The ``data_root`` key of the config follows the same ``$MDE_PYG_DATA``
default, so ``mde-pyg train dataset=baby`` finds what ``mde-pyg prepare baby``
wrote.

What they are made from (the *shared data folder*: the raw interactions and
item text): an explicit folder (``mde-pyg prepare --shared``), else
``$MDE_PYG_SHARED_DATA``; the package assumes no location of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from mde_pyg.errors import DatasetError

#: The names ``mde-pyg prepare`` accepts; each is a folder of the data root.
DATASETS = ("ml100k", "baby", "sports", "baby_placeholder", "sports_placeholder")
#: The datasets with a ``conf/dataset/<name>.yaml`` (``dataset=<name>``).
CONFIGURED = ("ml100k", "baby", "sports")
#: The datasets whose text is encoded (they need the ``text`` extra).
TEXT_DATASETS = ("ml100k", "baby")
#: Environment variable of the data root (the prepared folders).
DATA_ENV = "MDE_PYG_DATA"
#: Environment variable of the shared data folder (the raw inputs).
SHARED_ENV = "MDE_PYG_SHARED_DATA"
#: The data root when neither ``--root`` nor ``$MDE_PYG_DATA`` is given.
DEFAULT_ROOT = "~/.cache/mde_pyg/datasets"


def data_root(root: str | Path | None = None) -> Path:
    """The absolute folder the prepared datasets go to: ``root``, else
    ``$MDE_PYG_DATA``, else ``~/.cache/mde_pyg/datasets``.

    Args:
        root (str or Path, optional): An explicit folder. (default: :obj:`None`)
    """
    if root is None:
        root = os.environ.get(DATA_ENV) or DEFAULT_ROOT
    return Path(root).expanduser().resolve()


def shared_data_dir(shared: str | Path | None = None) -> Path:
    """The shared data folder (raw interactions and item text): ``shared``,
    else ``$MDE_PYG_SHARED_DATA``.

    Args:
        shared (str or Path, optional): An explicit folder.
            (default: :obj:`None`)

    Raises:
        DatasetError: if neither names a folder that exists, naming both ways
            to point at it.
    """
    how = f"pass --shared DIR or set {SHARED_ENV}=DIR"
    if shared is None and not os.environ.get(SHARED_ENV):
        raise DatasetError(
            f"no shared data folder given (the folder with derived/baby.inter): {how}"
        )
    given = "--shared" if shared is not None else f"${SHARED_ENV}"
    path = Path(shared or os.environ[SHARED_ENV]).expanduser().resolve()
    if not path.is_dir():
        raise DatasetError(
            f"{path}: shared data folder not found (from {given}): {how}"
        )
    return path


def required_inputs(name: str) -> list[str]:
    """The files of the shared data folder that dataset ``name`` is made
    from, relative to it."""
    if name == "ml100k":
        return ["tools/ml100k.py"]
    if name == "baby":
        return ["derived/baby.inter", "amazon_baby/baby_partial_text.jsonl"]
    source = name.removesuffix("_placeholder")
    return [f"derived/{source}.inter"]
