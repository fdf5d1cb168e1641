"""The one early-stopping rule of the trainers."""
import pytest
import torch

from kg_recsys.training import EarlyStopping


def test_keeps_the_best_state_and_stops_after_patience_checks_without_gain():
    module = torch.nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(patience=2)
    for step, score in enumerate([0.1, 0.3, 0.2, 0.3]):  # a tie is no gain
        with torch.no_grad():
            module.weight.fill_(float(step))
        improved = stopper.update(score, module)
        assert improved == (step in (0, 1))
    assert stopper.should_stop and stopper.best == 0.3
    stopper.restore(module)
    assert module.weight.item() == 1.0  # the state of the best check, not the last


def test_uncounted_checks_do_not_use_up_the_patience():
    module = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=1)
    stopper.update(0.5, module)
    stopper.update(0.4, module, count=False)
    assert not stopper.should_stop
    stopper.update(0.4, module)
    assert stopper.should_stop
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)
