import math

import pytest

from mde_pyg.training import format_summary, summarize


def test_summarize_mean_and_sample_std():
    summary = summarize([{"r": 1.0, "n": 2.0}, {"r": 3.0, "n": 2.0}])
    assert summary["r"] == (2.0, pytest.approx(math.sqrt(2.0)))
    assert summary["n"] == (2.0, 0.0)
    assert summarize([{"r": 0.5}])["r"] == (0.5, 0.0)
    with pytest.raises(ValueError, match="empty"):
        summarize([])


def test_format_summary():
    summary = summarize([{"recall@20": 0.1}, {"recall@20": 0.3}])
    assert format_summary(summary) == "recall@20=0.2000±0.1414"
