"""Python API arguments of the wrong kind are refused by name at the door of `train`, not as an
AttributeError deep inside (issue 20: train(model="x"), train(data="x"), callbacks=[1])."""

import pytest

from mlplab import build_model, make_dataset, train, train_stacked
from mlplab.errors import SpecError


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="x"), r"^model: expected a torch.nn.Module .*got 'str'"),
    (dict(model=None), r"^model: expected a torch.nn.Module"),
    (dict(data="x"), r"^data: expected a mlplab Dataset .*got 'str'"),
    (dict(data=[[0, 1]]), r"^data: expected a mlplab Dataset .*got 'list'"),
    (dict(callbacks=[1]), r"^callbacks: expected Callback objects .*got 'int'"),
    (dict(callbacks=print), r"^callbacks: expected a list of mlplab Callback objects"),
    (dict(resume="run"), r"^resume: expected a Run .*got 'str'"),
])
def test_wrong_kinds_of_arguments_are_named(kwargs, message):
    args = dict(model=build_model(in_dim=2, hidden=[4], out_activation="sigmoid"),
                data=make_dataset("moons", n=40), loss="bce", epochs=2)
    args.update(kwargs)
    with pytest.raises(SpecError, match=message):
        train(args.pop("model"), args.pop("data"), **args)


def test_stacked_callbacks_are_checked_too():
    data = make_dataset("moons", n=40)
    models = [build_model(in_dim=2, hidden=[4], out_activation="sigmoid", seed=s) for s in range(2)]
    with pytest.raises(SpecError, match=r"^callbacks: expected Callback objects"):
        train_stacked(models, [data, data], [{"loss": "bce", "epochs": 2}] * 2, callbacks=["x"])
