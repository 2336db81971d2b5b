"""Subnormal floats are flushed to zero inside ``flush_denormals`` (and a
``Trainer`` that asks for it) only, and the setting found is restored."""

import pytest
import torch

from mde_pyg.data import make_synthetic
from mde_pyg.errors import ConfigError
from mde_pyg.models import LightGCN
from mde_pyg.pipeline import compose_config
from mde_pyg.pipeline.run import trainer_settings
from mde_pyg.training import Callback, Trainer, seed_everything
from mde_pyg.training.denormals import flush_denormals, flushing_denormals

#: float32's smallest normal number: its hundredth is subnormal.
TINY = torch.finfo(torch.float32).tiny


def subnormal_product() -> float:
    return (torch.tensor([TINY]) * 0.01).item()


@pytest.fixture(autouse=True)
def arithmetic_as_found():
    before = flushing_denormals()
    yield
    torch.set_flush_denormal(before)


def test_subnormals_are_flushed_inside_the_block_only():
    assert not flushing_denormals() and subnormal_product() > 0.0
    with flush_denormals() as flushed:
        assert flushed == flushing_denormals()
        # Where the CPU cannot flush (not x86), the arithmetic is unchanged.
        assert (subnormal_product() == 0.0) == flushed
    assert not flushing_denormals() and subnormal_product() > 0.0


def test_the_setting_found_is_restored_after_an_error():
    with pytest.raises(RuntimeError, match="stop"), flush_denormals():
        raise RuntimeError("stop")
    assert not flushing_denormals()


def test_a_disabled_block_leaves_the_setting_alone():
    supported = torch.set_flush_denormal(True)
    with flush_denormals(enabled=False) as flushed:
        assert flushed == supported == flushing_denormals()
    with flush_denormals():
        pass
    # Flushing was on before the block: it stays on.
    assert flushing_denormals() == supported


class Probe(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, trainer, record, improved):
        self.seen.append(flushing_denormals())


@pytest.mark.parametrize("flush", [False, True])
def test_the_trainer_flushes_during_fit_when_asked(flush):
    data = LightGCN.graph_transform()(make_synthetic(num_users=60, num_items=40))
    seed_everything(0)
    probe = Probe()
    trainer = Trainer(
        LightGCN.from_data(data, embedding_dim=8),
        data,
        max_epochs=2,
        device="cpu",
        callbacks=[probe],
        flush_denormal=flush,
    )
    trainer.fit()
    supported = torch.set_flush_denormal(False)
    assert probe.seen == [flush and supported] * 2
    assert not flushing_denormals()
    # The option is in the fingerprint only when set: earlier checkpoints
    # ran without it and still resume.
    fingerprint = trainer.fingerprint()
    assert fingerprint.get("trainer.flush_denormal", False) is flush


def test_a_flush_denormal_that_is_not_a_bool_is_one_config_error():
    cfg = compose_config(["trainer.flush_denormal=maybe"])
    with pytest.raises(
        ConfigError,
        match=r"^'trainer\.flush_denormal' must be of type bool \(like its "
        r"default False\), got 'maybe' \(str\)$",
    ):
        trainer_settings(cfg)
