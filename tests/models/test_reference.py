"""The models compute what they computed when ``reference.json`` was
recorded (see ``record_reference.py``): a refactoring keeps behaviour."""

import json

import pytest
from record_reference import REFERENCE, RUNS, run

EXPECTED = json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_model_reproduces_its_recorded_run(name):
    got, expected = run(RUNS[name]), EXPECTED[name]
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    for got_val, expected_val in zip(got["val"], expected["val"]):
        assert got_val == pytest.approx(expected_val, abs=1e-6)
    assert got["test"] == pytest.approx(expected["test"], abs=1e-6)
