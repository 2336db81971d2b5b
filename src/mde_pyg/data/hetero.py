"""The :class:`~torch_geometric.data.HeteroData` layout shared by every loader,
graph builder and model of :mod:`mde_pyg`.

Layout (``data`` is a :class:`HeteroData`):

* ``data['user'].num_nodes``, ``data['item'].num_nodes``
* ``data['item'][f'x_{m}']``: the ``[num_items, d_m]`` float feature matrix of
  modality ``m`` (e.g. ``x_image``, ``x_text``); :func:`item_features` returns
  them as an ordered ``{m: x}`` dictionary.
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

from torch import Tensor
from torch_geometric.data import HeteroData

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
SPLITS = ("train", "val", "test")


def item_sim(modality: str) -> tuple[str, str, str]:
    """The edge type of the item-item similarity graph of ``modality``."""
    return (ITEM, f"sim_{modality}", ITEM)


def build_heterodata(
    num_users: int,
    num_items: int,
    train_index: Tensor,
    val_index: Tensor,
    test_index: Tensor,
    features: dict[str, Tensor] | None = None,
) -> HeteroData:
    """Assembles the :class:`HeteroData` of a recommendation dataset.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        train_index (torch.Tensor): ``[2, E_train]`` training (user, item) pairs.
        val_index (torch.Tensor): ``[2, E_val]`` validation pairs.
        test_index (torch.Tensor): ``[2, E_test]`` test pairs.
        features (dict, optional): ``{modality: [num_items, d] tensor}``.
            (default: :obj:`None`)
    """
    data = HeteroData()
    data[USER].num_nodes = int(num_users)
    data[ITEM].num_nodes = int(num_items)
    for modality, x in (features or {}).items():
        data[ITEM][FEATURE_PREFIX + modality] = x
    data[INTERACTS].edge_index = train_index
    data[REV_INTERACTS].edge_index = train_index.flip(0)
    data[INTERACTS].val_edge_label_index = val_index
    data[INTERACTS].test_edge_label_index = test_index
    return data


def item_features(data: HeteroData, item_type: str = ITEM) -> dict[str, Tensor]:
    """Returns ``{modality: features}`` for every ``x_<modality>`` of the
    ``item_type`` nodes, in the order they were added."""
    return {
        key[len(FEATURE_PREFIX) :]: value
        for key, value in data[item_type].items()
        if key.startswith(FEATURE_PREFIX) and isinstance(value, Tensor)
    }


def split_edge_index(data: HeteroData, split: str) -> Tensor:
    """Returns the ``[2, E]`` (user, item) pairs of ``split`` (``'train'``,
    ``'val'`` or ``'test'``)."""
    if split == "train":
        return data[INTERACTS].edge_index
    if split in ("val", "test"):
        return data[INTERACTS][f"{split}_edge_label_index"]
    raise ValueError(f"Unknown split '{split}' (expected one of {SPLITS})")
