import re
import warnings

import pytest
import torch

from mde_pyg.data import graph_cache
from mde_pyg.data.graph_cache import GRAPH_BUILDER_VERSION, GraphCache, feature_digest
from mde_pyg.data.graphs import knn_graph


class CountingBuilder:
    def __init__(self, x, k):
        self.x, self.k, self.calls = x, k, 0

    def __call__(self):
        self.calls += 1
        return knn_graph(self.x, self.k)


def features(seed=0):
    return torch.randn(20, 6, generator=torch.Generator().manual_seed(seed))


def test_hit_on_same_content(tmp_path):
    x = features()
    cache = GraphCache(tmp_path)
    build = CountingBuilder(x, 3)
    first = cache.get_or_build(x, 3, build, normalization="sym")
    # A different tensor object with the same content is the same key.
    second = GraphCache(tmp_path).get_or_build(x.clone(), 3, build, normalization="sym")
    assert build.calls == 1
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert (cache.hits, cache.misses) == (0, 1)


def test_miss_on_changed_content_k_options_or_version(tmp_path):
    x = features()
    cache = GraphCache(tmp_path)
    cache.get_or_build(x, 3, CountingBuilder(x, 3), normalization="sym")

    changed = x.clone()
    changed[7, 2] += 1e-6
    build = CountingBuilder(changed, 3)
    graph = cache.get_or_build(changed, 3, build, normalization="sym")
    assert build.calls == 1
    assert torch.equal(graph[1], knn_graph(changed, 3)[1])

    for key_change in (
        lambda: cache.load(x, 4, normalization="sym"),
        lambda: cache.load(x, 3, normalization="row"),
        lambda: cache.load(x.double(), 3, normalization="sym"),
        lambda: cache.load(x.view(40, 3), 3, normalization="sym"),
        lambda: GraphCache(tmp_path, version=GRAPH_BUILDER_VERSION + 1).load(
            x, 3, normalization="sym"
        ),
    ):
        assert key_change() is None
    assert cache.load(x, 3, normalization="sym") is not None


def test_the_key_holds_the_mask_of_the_real_rows(tmp_path):
    x = features()
    cache = GraphCache(tmp_path)
    half, other = torch.arange(20) % 2 == 0, torch.arange(20) % 3 != 0
    graphs = {}
    for name, mask in (("none", None), ("half", half), ("other", other)):

        def build(mask=mask):
            return knn_graph(x, 3, mask=mask)

        graphs[name] = cache.get_or_build(x, 3, build, mask, normalization="sym")
    # Another mask of the same features is another graph, cached apart.
    assert cache.misses == 3 and len(list(tmp_path.glob("graph-*.pt"))) == 3
    assert graphs["half"][0].shape != graphs["none"][0].shape
    for name, mask in (("half", half), ("other", other)):
        hit = cache.load(x, 3, mask, normalization="sym")
        assert torch.equal(hit[0], graphs[name][0])
    # A mask without a missing row is no mask: the same graph, the same key.
    full = torch.ones(20, dtype=torch.bool)
    assert cache.key(x, 3, full, normalization="sym") == cache.key(
        x, 3, normalization="sym"
    )
    assert cache.key(x, 3, half) != cache.key(x, 3, other) != cache.key(x, 3)


def test_digest_depends_on_content_dtype_and_shape():
    x = features()
    assert feature_digest(x) == feature_digest(x.clone())
    assert feature_digest(x) != feature_digest(features(1))
    assert feature_digest(x) != feature_digest(x.view(40, 3))
    assert feature_digest(x) != feature_digest(x.bfloat16())
    # Non-contiguous and autograd-tracked tensors hash their values.
    y = x.t().contiguous().t().requires_grad_()
    assert feature_digest(y) == feature_digest(x)


def test_write_is_atomic(tmp_path, monkeypatch):
    x = features()
    cache = GraphCache(tmp_path / "sub")

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(graph_cache.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.get_or_build(x, 3, CountingBuilder(x, 3))
    # Neither a truncated cache entry nor a temporary file is left behind.
    assert list((tmp_path / "sub").iterdir()) == []
    monkeypatch.undo()

    path = cache.save(x, 3, knn_graph(x, 3))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == [path.name]
    assert "GraphCache(" in repr(cache)


def assert_rebuilt(cache, x, reason):
    """A ``get_or_build`` of a damaged entry warns, rebuilds and overwrites,
    so the next lookup is a silent hit."""
    path = cache.path(cache.key(x, 3))
    build = CountingBuilder(x, 3)
    with pytest.warns(
        UserWarning, match=f"{path.name}: ignoring the cached graph \\({reason}"
    ):
        graph = cache.get_or_build(x, 3, build)
    expected = knn_graph(x, 3)
    assert build.calls == 1
    assert torch.equal(graph[0], expected[0]) and torch.equal(graph[1], expected[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = cache.get_or_build(x, 3, build)
    assert build.calls == 1 and torch.equal(again[1], expected[1])


def test_truncated_entry_is_rebuilt(tmp_path):
    x = features()
    cache = GraphCache(tmp_path)
    path = cache.save(x, 3, knn_graph(x, 3))
    path.write_bytes(path.read_bytes()[:200])
    assert_rebuilt(cache, x, "PytorchStreamReader failed")


def invalid_entries():
    edge_index, edge_weight = knn_graph(features(), 3)  # 20 nodes, 60 edges
    nan = edge_weight.clone()
    nan[5] = float("nan")
    negative = edge_index.clone()
    negative[0, 7] = -1
    return [
        (edge_index, "expected a dict with tensors"),
        ({"edge_index": edge_index}, "expected a dict with tensors"),
        (
            {"edge_index": edge_index.repeat(2, 1), "edge_weight": edge_weight},
            re.escape(
                "'edge_index' must be int64 of shape [2, E], got torch.int64 of "
                "shape [4, 60]"
            ),
        ),
        (
            {"edge_index": edge_index.float(), "edge_weight": edge_weight},
            "'edge_index' must be int64 .* got torch.float32",
        ),
        (
            {"edge_index": edge_index, "edge_weight": edge_weight[:-1]},
            re.escape(
                "'edge_weight' must be floating-point of shape [60], got "
                "torch.float32 of shape [59]"
            ),
        ),
        (
            {"edge_index": edge_index, "edge_weight": edge_index[0]},
            "'edge_weight' must be floating-point .* got torch.int64",
        ),
        (
            {"edge_index": edge_index + 1, "edge_weight": edge_weight},
            re.escape("'edge_index' has node index 20, outside [0, 20)"),
        ),
        (
            {"edge_index": negative, "edge_weight": edge_weight},
            re.escape("'edge_index' has node index -1, outside [0, 20)"),
        ),
        (
            {"edge_index": edge_index, "edge_weight": nan},
            "'edge_weight' has value nan at edge 5",
        ),
    ]


@pytest.mark.parametrize(("state", "reason"), invalid_entries())
def test_invalid_entry_is_rebuilt(tmp_path, state, reason):
    x = features()
    cache = GraphCache(tmp_path)
    torch.save(state, cache.path(cache.key(x, 3)))
    assert_rebuilt(cache, x, reason)


def test_planted_code_in_entry_never_runs(tmp_path, plant_code):
    # The planted file does run code when fully unpickled...
    plant_code(tmp_path / "probe.pt")
    torch.load(tmp_path / "probe.pt", weights_only=False)
    assert plant_code.ran
    plant_code.marker.unlink()
    # ... but the cache only reads with weights_only=True.
    x = features()
    cache = GraphCache(tmp_path)
    plant_code(cache.path(cache.key(x, 3)))
    assert_rebuilt(cache, x, "Unsupported global: GLOBAL")
    assert not plant_code.ran
