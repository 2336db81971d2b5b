import pytest

from mde_pyg.training import EarlyStopping


def test_stops_after_patience_plus_one_non_improvements():
    stopper = EarlyStopping(patience=2)
    assert stopper.step(0.1, 0)
    assert not stopper.step(0.1, 1)  # equal is not a strict improvement
    assert not stopper.should_stop
    assert not stopper.step(0.05, 2)
    assert not stopper.should_stop
    assert not stopper.step(0.09, 3)
    assert stopper.should_stop
    assert stopper.best == 0.1 and stopper.best_epoch == 0


def test_improvement_resets_counter_and_state_round_trips():
    stopper = EarlyStopping(patience=1)
    stopper.step(0.1, 0)
    stopper.step(0.0, 1)
    assert stopper.step(0.2, 2)
    assert stopper.bad_evaluations == 0
    clone = EarlyStopping(patience=1)
    clone.load_state_dict(stopper.state_dict())
    assert clone.state_dict() == {"best": 0.2, "best_epoch": 2, "bad_evaluations": 0}


def test_negative_patience_rejected():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(-1)
