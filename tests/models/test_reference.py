"""The models compute what they computed when ``reference.json`` was
recorded (see ``record_reference.py``): a refactoring keeps behaviour."""

import json
from pathlib import Path

import pytest
from record_reference import REFERENCE, RUNS, run

import mde_pyg.conf

EXPECTED = json.loads(REFERENCE.read_text())
CONF = Path(mde_pyg.conf.__file__).parent
#: The names of the conf/model files.
MODEL_CONFIGS = {path.stem for path in (CONF / "model").glob("*.yaml")}
#: The names of the conf/study files.
STUDY_CONFIGS = {path.stem for path in (CONF / "study").glob("*.yaml")}


def test_every_model_config_is_recorded():
    assert MODEL_CONFIGS and STUDY_CONFIGS
    assert MODEL_CONFIGS - set(RUNS) == set(), "add these to RUNS and record them"
    studies = {o.split("=")[1] for ov in RUNS.values() for o in ov if "study=" in o}
    assert STUDY_CONFIGS - studies == set(), "add these to RUNS and record them"
    assert set(RUNS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_model_reproduces_its_recorded_run(name):
    got, expected = run(RUNS[name]), EXPECTED[name]
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    for got_val, expected_val in zip(got["val"], expected["val"]):
        assert got_val == pytest.approx(expected_val, abs=1e-6)
    assert got["test"] == pytest.approx(expected["test"], abs=1e-6)
