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
