import numpy as np
import pytest
import torch

from pipeline.config import TrainingConfig
from pipeline.data import DeviceData, load_splits
from pipeline.models import build_model
from pipeline.train import ModelMasks, train


@pytest.mark.parametrize(
    "recipe",
    [
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
        {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    ],
    ids=["sgd-momentum", "nesterov-wd", "adam"],
)
def test_masked_weights_stay_exactly_zero_through_training(recipe):
    torch.manual_seed(0)
    model = build_model("fcn", "mnist-5k")
    rng = np.random.default_rng(0)
    masks = {name: rng.random(p.shape) < 0.3 for name, p in model.named_parameters() if name.endswith("weight")}
    bound = ModelMasks(model, masks)
    bound.enforce()
    data = DeviceData(load_splits("mnist-5k", "unused"))
    train(model, data, TrainingConfig(epochs=1, **{"lr": 0.05, **recipe}), seed=0, masks=bound, progress=False)
    optimizer_state_checked = 0
    for name, param in model.named_parameters():
        if name in masks:
            assert torch.all(param[~torch.as_tensor(masks[name])] == 0), name
            assert torch.count_nonzero(param) > 0
            optimizer_state_checked += 1
    assert optimizer_state_checked == 6


def test_optimizer_state_is_masked_too():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3, bias=False)
    mask = np.array([[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0]], dtype=bool)
    bound = ModelMasks(model, {"weight": mask})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    bound.enforce(optimizer)
    state = optimizer.state[model.weight]
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.all(state[key][~torch.as_tensor(mask)] == 0)


def test_mask_for_unknown_or_misshapen_parameter_is_refused():
    model = torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"'fc\.weight', which is not a parameter"):
        ModelMasks(model, {"fc.weight": np.ones((3, 4), bool)})
    with pytest.raises(ValueError, match=r"mask of 'weight' has shape \(4, 3\)"):
        ModelMasks(model, {"weight": np.ones((4, 3), bool)})
