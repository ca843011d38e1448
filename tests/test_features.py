"""Input features (TensorFlow Playground's x1^2, sin(x1), ...): what the model computes and what refuses them."""

import numpy as np
import pytest
import torch

import mlplab
from mlplab import SpecError, build_model


def test_features_are_computed_from_the_inputs_as_named():
    model = build_model(hidden=[3], features=["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"])
    x = torch.tensor([[0.5, -2.0], [3.0, 1.5]])
    x1, x2 = x[:, 0], x[:, 1]
    expected = torch.stack([x1, x2, x1 ** 2, x2 ** 2, x1 * x2, torch.sin(x1), torch.sin(x2)], 1)
    assert torch.equal(model.net[0](x), expected)
    assert model.net[1].in_features == 7


def test_the_raw_inputs_need_no_feature_layer():
    assert isinstance(build_model(hidden=[3], features=["x1", "x2"]).net[0], torch.nn.Linear)
    assert isinstance(build_model(hidden=[3]).net[0], torch.nn.Linear)


@pytest.mark.parametrize("fields,message", [
    (dict(in_dim=3, features=["x1"]), "in_dim=2"),
    (dict(features=["x1", "x1"]), "each feature once"),
    (dict(features=["cos(x1)"]), "model.features"),
])
def test_bad_features_name_the_field(fields, message):
    with pytest.raises(SpecError, match=message):
        build_model(hidden=[2], **fields)


def test_a_feature_circle_is_learned_by_a_linear_model_and_regions_say_they_do_not_apply():
    """x1^2 + x2^2 separates the circle data linearly: no hidden layer needed with squared features."""
    data = mlplab.make_dataset("circle", n=300, noise=0.05)
    model = build_model(hidden=[], features=["x1^2", "x2^2"], out_activation="sigmoid", seed=0)
    run = mlplab.train(model, data, loss="bce", lr=0.1, epochs=300)
    assert run.metrics["train_accuracy"] >= 0.97
    with pytest.raises(SpecError, match="feature space"):
        mlplab.geometry.linear_regions(model, box=((-6, 6), (-6, 6)))
