r"""An on-disk cache of frozen item-item graphs (the :math:`k`-NN graphs of
raw features that LATTICE-style models build once).

A cached graph is found by a key that hashes the *content* of the feature
matrix (dtype, shape and bytes) and of its mask of real rows (when some row
is missing: see :func:`~mde_pyg.data.graphs.knn_graph`), :math:`k`, the
builder's options and :data:`GRAPH_BUILDER_VERSION`, so a changed feature or
mask file, another :math:`k` or a changed builder never silently reuses a
stale graph. Files are written
atomically (temporary file in the same folder, fsync, rename), so a run
killed mid-write leaves either the old state or the complete new file.
Entries are read with ``weights_only=True`` and checked, so a damaged or
planted file is rebuilt instead of used, and cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mde_pyg.errors import load_error_reason

#: Bump when :func:`mde_pyg.data.graphs.knn_graph` changes the graph it
#: returns for the same input, so that caches written before are not reused.
GRAPH_BUILDER_VERSION = 1

#: A frozen graph as it is cached: ``(edge_index [2, E], edge_weight [E])``.
WeightedEdges = tuple[Tensor, Tensor]


def feature_digest(x: Tensor) -> str:
    """The SHA-256 of the dtype, shape and raw bytes of ``x`` (on the CPU,
    without autograd history)."""
    x = x.detach().cpu().contiguous()
    digest = hashlib.sha256()
    digest.update(f"{x.dtype}|{tuple(x.shape)}|".encode())
    # Viewing the storage as bytes hashes every dtype (bfloat16 included)
    # without a copy through NumPy's type system.
    digest.update(memoryview(x.view(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def check_graph(state: Any, num_nodes: int) -> WeightedEdges:
    """Returns ``(edge_index, edge_weight)`` of a loaded cache entry.

    Args:
        state (Any): What :meth:`GraphCache.save` wrote, as loaded.
        num_nodes (int): The number of nodes the graph is over.

    Raises:
        ValueError: unless ``state`` holds an ``int64`` ``[2, E]``
            ``edge_index`` with indices in ``[0, num_nodes)`` and a finite
            floating-point ``[E]`` ``edge_weight``.
    """
    if not isinstance(state, dict) or not all(
        isinstance(state.get(key), Tensor) for key in ("edge_index", "edge_weight")
    ):
        raise ValueError("expected a dict with tensors 'edge_index' and 'edge_weight'")
    edge_index, edge_weight = state["edge_index"], state["edge_weight"]
    if edge_index.dtype != torch.long or edge_index.dim() != 2 or len(edge_index) != 2:
        raise ValueError(
            f"'edge_index' must be int64 of shape [2, E], got {edge_index.dtype} "
            f"of shape {list(edge_index.shape)}"
        )
    num_edges = edge_index.size(1)
    if not edge_weight.is_floating_point() or edge_weight.shape != (num_edges,):
        raise ValueError(
            f"'edge_weight' must be floating-point of shape [{num_edges}], got "
            f"{edge_weight.dtype} of shape {list(edge_weight.shape)}"
        )
    outside = (edge_index < 0) | (edge_index >= num_nodes)
    if bool(outside.any()):
        bad = int(edge_index[outside][0])
        raise ValueError(f"'edge_index' has node index {bad}, outside [0, {num_nodes})")
    finite = torch.isfinite(edge_weight)
    if not bool(finite.all()):
        edge = int(torch.nonzero(~finite)[0])
        raise ValueError(
            f"'edge_weight' has value {edge_weight[edge].item()} at edge {edge}"
        )
    return edge_index, edge_weight


class GraphCache:
    r"""A folder of frozen graphs keyed by the content of the features they
    were built from.

    .. code-block:: python

        cache = GraphCache("~/.cache/mde_pyg/graphs")
        edge_index, edge_weight = cache.get_or_build(
            x, k=10, build=lambda: knn_graph(x, k=10), normalization="sym")

    Args:
        root (str or pathlib.Path): The cache folder (created on first
            write).
        version (int, optional): The builder version that is part of every
            key. (default: :data:`GRAPH_BUILDER_VERSION`)

    Attributes:
        hits (int): Lookups answered from disk.
        misses (int): Lookups that had to build the graph.
    """

    def __init__(self, root: str | Path, version: int = GRAPH_BUILDER_VERSION) -> None:
        self.root = Path(root).expanduser()
        self.version = int(version)
        self.hits = 0
        self.misses = 0

    def key(self, x: Tensor, k: int, mask: Tensor | None = None, **options: Any) -> str:
        """The cache key of the graph of ``x`` with ``k`` neighbours, the
        ``[N]`` boolean ``mask`` of its real rows and the builder ``options``
        (JSON-able values). A mask without a missing row is no mask (the
        graph is the same), so the key is the one without it."""
        content = {
            "features": feature_digest(x),
            "k": int(k),
            "version": self.version,
            "options": options,
        }
        if mask is not None and not bool(mask.all()):
            content["mask"] = feature_digest(mask)
        description = json.dumps(content, sort_keys=True)
        return hashlib.sha256(description.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / f"graph-{key}.pt"

    def load(
        self, x: Tensor, k: int, mask: Tensor | None = None, **options: Any
    ) -> WeightedEdges | None:
        """The cached ``(edge_index, edge_weight)`` of ``x`` (and ``mask``,
        see :meth:`key`), or :obj:`None` if there is none.

        An entry that cannot be read (*e.g.* truncated, or holding anything
        but tensors and plain containers, which ``weights_only=True``
        refuses to unpickle) or is not a valid graph over the ``x.size(0)``
        nodes (see :func:`check_graph`) is a miss too, with a
        :class:`UserWarning` naming the file and the reason, so that
        :meth:`get_or_build` rebuilds and overwrites it.
        """
        path = self.path(self.key(x, k, mask, **options))
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            return check_graph(state, x.size(0))
        except Exception as error:  # any broken entry is rebuilt, not fatal
            warnings.warn(
                f"{path}: ignoring the cached graph ({load_error_reason(error)}); "
                "it is rebuilt",
                stacklevel=2,
            )
            return None

    def save(
        self,
        x: Tensor,
        k: int,
        graph: WeightedEdges,
        mask: Tensor | None = None,
        **options: Any,
    ) -> Path:
        """Writes ``graph`` under the key of ``(x, k, mask, options)``,
        atomically."""
        edge_index, edge_weight = graph
        path = self.path(self.key(x, k, mask, **options))
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".graph-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(
                    {
                        "edge_index": edge_index.detach().cpu(),
                        "edge_weight": edge_weight.detach().cpu(),
                    },
                    f,
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def get_or_build(
        self,
        x: Tensor,
        k: int,
        build: Callable[[], WeightedEdges],
        mask: Tensor | None = None,
        **options: Any,
    ) -> WeightedEdges:
        """Returns the cached graph of ``(x, k, mask, options)`` on the
        device of ``x``, or calls ``build()``, stores its result and returns
        it."""
        graph = self.load(x, k, mask, **options)
        if graph is not None:
            self.hits += 1
            return graph[0].to(x.device), graph[1].to(x.device)
        self.misses += 1
        graph = build()
        self.save(x, k, graph, mask, **options)
        return graph

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}('{self.root}', version={self.version})"
