"""The :class:`~torch_geometric.data.HeteroData` layout shared by every loader,
graph builder and model of :mod:`mde_pyg`.

Layout (``data`` is a :class:`HeteroData`):

* ``data['user'].num_nodes``, ``data['item'].num_nodes``
* ``data['item'][f'x_{m}']``: the ``[num_items, d_m]`` float feature matrix of
  modality ``m`` (e.g. ``x_image``, ``x_text``); :func:`item_features` returns
  them as an ordered ``{m: x}`` dictionary.
* ``data['item'][f'x_{m}_mask']``: the ``[num_items]`` boolean mask of the
  real rows of ``x_{m}`` (``False``: the item has no such feature and its row
  was filled in, see :mod:`mde_pyg.data.missing`); :func:`feature_masks`
  returns them, all ``True`` where a graph has none.
* ``data['user', 'interacts', 'item'].edge_index``: training interactions
  (row 0 users, row 1 items), the only edges message passing may see, and
  ``data['item', 'rev_interacts', 'user'].edge_index`` its reverse.
* ``data['user', 'interacts', 'item'].val_edge_label_index`` and
  ``.test_edge_label_index``: held-out (user, item) pairs.
* The transforms of :mod:`mde_pyg.data.transforms` add the weights and
  sparse adjacencies of these relations, ``('item', f'sim_{m}', 'item')`` per
  modality, ``('user', 'co_interacts', 'user')``, LATTICE's
  ``('user', 'interacts_mean', 'item')`` and its reverse, FREEDOM's
  ``('item', 'mm_sim', 'item')`` and SMORE's ``('item', 'max_sim', 'item')``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mde_pyg.errors import DatasetError

USER = "user"
ITEM = "item"
INTERACTS = (USER, "interacts", ITEM)
REV_INTERACTS = (ITEM, "rev_interacts", USER)
CO_INTERACTS = (USER, "co_interacts", USER)
#: The user-item graph with LATTICE's normalisation D^-1 (A + I).
INTERACTS_MEAN = (USER, "interacts_mean", ITEM)
REV_INTERACTS_MEAN = (ITEM, "rev_interacts_mean", USER)
#: The unnormalised (weight 1) and row-normalised (D^-1 A: the mean over the
#: neighbours) user-item graphs, MMGCN's for aggr="add" and aggr="mean".
INTERACTS_SUM = (USER, "interacts_sum", ITEM)
REV_INTERACTS_SUM = (ITEM, "rev_interacts_sum", USER)
INTERACTS_AVG = (USER, "interacts_avg", ITEM)
REV_INTERACTS_AVG = (ITEM, "rev_interacts_avg", USER)
#: FREEDOM's frozen item-item graph, mixed from every modality's k-NN graph.
MM_SIM = (ITEM, "mm_sim", ITEM)
#: SMORE's fused item-item graph, the element-wise maximum of the modality
#: graphs.
MAX_SIM = (ITEM, "max_sim", ITEM)
#: The text modality, which the models from MMRec treat apart from the others
#: (FREEDOM's graph weights, SMORE's neighbours per item): every other
#: modality takes the place of MMRec's image features.
TEXT = "text"
FEATURE_PREFIX = "x_"
#: ``x_<m>`` + ``MASK_SUFFIX`` holds the row mask of modality ``m``.
MASK_SUFFIX = "_mask"
SPLITS = ("train", "val", "test")


def item_sim(modality: str) -> tuple[str, str, str]:
    """The edge type of the item-item similarity graph of ``modality``."""
    return (ITEM, f"sim_{modality}", ITEM)


def mask_key(modality: str) -> str:
    """The attribute of the item store that holds the row mask of
    ``modality``: ``x_<modality>_mask``."""
    return FEATURE_PREFIX + modality + MASK_SUFFIX


def build_heterodata(
    num_users: int,
    num_items: int,
    train_index: Tensor,
    val_index: Tensor,
    test_index: Tensor,
    features: dict[str, Tensor] | None = None,
    masks: dict[str, Tensor] | None = None,
) -> HeteroData:
    """Assembles the :class:`HeteroData` of a recommendation dataset.

    Every modality's features travel with their row mask ``x_<m>_mask``.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        train_index (torch.Tensor): ``[2, E_train]`` training (user, item) pairs.
        val_index (torch.Tensor): ``[2, E_val]`` validation pairs.
        test_index (torch.Tensor): ``[2, E_test]`` test pairs.
        features (dict, optional): ``{modality: [num_items, d] tensor}``.
            (default: :obj:`None`)
        masks (dict, optional): ``{modality: [num_items] bool tensor}``, the
            real rows of ``features`` (``True``: real); a modality it does
            not name has every row real. (default: :obj:`None`)

    Raises:
        DatasetError: for a modality name ending in ``_mask`` (its features
            would be taken for another modality's mask).
    """
    masks = masks or {}
    data = HeteroData()
    data[USER].num_nodes = int(num_users)
    data[ITEM].num_nodes = int(num_items)
    for modality, x in (features or {}).items():
        if modality.endswith(MASK_SUFFIX):
            raise DatasetError(
                f"modality '{modality}': a modality name must not end in "
                f"'{MASK_SUFFIX}' (x_<m>{MASK_SUFFIX} is the row mask of modality m)"
            )
        data[ITEM][FEATURE_PREFIX + modality] = x
        mask = masks.get(modality)
        if mask is None:
            mask = torch.ones(x.size(0), dtype=torch.bool, device=x.device)
        data[ITEM][mask_key(modality)] = mask
    data[INTERACTS].edge_index = train_index
    data[REV_INTERACTS].edge_index = train_index.flip(0)
    data[INTERACTS].val_edge_label_index = val_index
    data[INTERACTS].test_edge_label_index = test_index
    return data


def item_features(data: HeteroData, item_type: str = ITEM) -> dict[str, Tensor]:
    """Returns ``{modality: features}`` for every ``x_<modality>`` of the
    ``item_type`` nodes, in the order they were added (the row masks
    ``x_<modality>_mask`` aside)."""
    return {
        key[len(FEATURE_PREFIX) :]: value
        for key, value in data[item_type].items()
        if key.startswith(FEATURE_PREFIX)
        and not key.endswith(MASK_SUFFIX)
        and isinstance(value, Tensor)
    }


def feature_masks(data: HeteroData, item_type: str = ITEM) -> dict[str, Tensor]:
    """Returns ``{modality: mask}``, the ``[num_items]`` boolean mask of the
    real rows (``True``) of every modality of :func:`item_features`: its
    ``x_<modality>_mask``, or all ``True`` (on the features' device) where
    the graph has none."""
    store = data[item_type]
    return {
        modality: store[mask_key(modality)]
        if mask_key(modality) in store
        else torch.ones(x.size(0), dtype=torch.bool, device=x.device)
        for modality, x in item_features(data, item_type).items()
    }


def split_edge_index(data: HeteroData, split: str) -> Tensor:
    """Returns the ``[2, E]`` (user, item) pairs of ``split`` (``'train'``,
    ``'val'`` or ``'test'``)."""
    if split == "train":
        return data[INTERACTS].edge_index
    if split in ("val", "test"):
        return data[INTERACTS][f"{split}_edge_label_index"]
    raise ValueError(f"Unknown split '{split}' (expected one of {SPLITS})")
