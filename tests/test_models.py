"""The model family: every seed class is a spec, the contract holds for every variant."""

import itertools

import pytest
import torch

from mlplab import SpecError, build_model, count_parameters
from mlplab.models import parameter_table
from mlplab.specs import ModelSpec

import seed_reference as ref


def _load_by_map(ours, theirs, mapping):
    """Copy the seed model's tensors into ours, name by name (``mapping``: their prefix -> our prefix)."""
    state = {}
    for name, value in theirs.state_dict().items():
        prefix, _, leaf = name.rpartition(".")
        state[f"{mapping[prefix]}.{leaf}"] = value
    ours.load_state_dict(state)


SEED_CLASSES = [
    ("000 MLP", lambda: ref.SeedMLP(2, 2, 2), dict(in_dim=2, out_dim=2, hidden=[2], init="identity"),
     {"fc1": "net.0", "fc2": "net.2"}),
    ("000 residual", lambda: ref.SeedResidual(2, 2, 2), dict(in_dim=2, out_dim=2, hidden=[2, 2], residual=True, init="identity"),
     {"fc1": "net.0", "r1.fc1": "net.1.fc1", "r1.fc2": "net.1.fc2", "r2.fc1": "net.2.fc1", "r2.fc2": "net.2.fc2", "fc2": "net.3"}),
    ("000 residual + bn", lambda: ref.SeedResidual(2, 2, 2, bn=True),
     dict(in_dim=2, out_dim=2, hidden=[2, 2], residual=True, norm="batch", init="identity"),
     {"fc1": "net.0", "bn1": "net.1", "r1.fc1": "net.2.fc1", "r1.fc2": "net.2.fc2", "bn2": "net.3",
      "r2.fc1": "net.4.fc1", "r2.fc2": "net.4.fc2", "bn3": "net.5", "fc2": "net.6"}),
    ("002 moons", lambda: ref.seed_moons_model(32), dict(in_dim=2, out_dim=1, hidden=[32], out_activation="sigmoid"),
     {"0": "net.0", "2": "net.2"}),
    ("003 poly", lambda: ref.SeedPoly(10), dict(in_dim=1, out_dim=1, poly_degree=10), {"linear": "net.1"}),
    ("003 prior", lambda: ref.SeedPriorMLP(50, 5.0, 5.0),
     dict(in_dim=1, out_dim=1, hidden=[50], activation="sigmoid", init="normal", init_std_w=5.0, init_std_b=5.0),
     {"hidden1": "net.0", "output": "net.2"}),
    ("003 tanh", lambda: ref.SeedTanhMLP(5), dict(in_dim=1, out_dim=1, hidden=[5], activation="tanh"),
     {"hidden1": "net.0", "output": "net.2"}),
]


@pytest.mark.parametrize("label,make_seed,fields,mapping", SEED_CLASSES, ids=[c[0] for c in SEED_CLASSES])
def test_seed_class_is_a_spec(label, make_seed, fields, mapping):
    torch.manual_seed(1)
    theirs = make_seed()
    ours = build_model(**fields)
    assert sorted(tuple(p.shape) for p in theirs.parameters()) == sorted(tuple(p.shape) for p in ours.parameters())
    _load_by_map(ours, theirs, mapping)
    x = torch.randn(64, fields["in_dim"]) * (0.5 if label == "003 poly" else 3)
    if "bn" in label:  # train mode (batch statistics), then eval mode after some running-stat updates
        for mode in ("train", "eval"):
            theirs.train(mode == "train"), ours.train(mode == "train")
            assert torch.equal(theirs(x), ours(x)), mode
        return
    theirs.eval(), ours.eval()
    if label == "003 poly":  # x ** k with a tensor of powers rounds like x ** k with an int, to float32 ulps
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-6, atol=1e-6)
    else:
        assert torch.equal(theirs(x), ours(x))


def test_seed_identity_init_matches_without_copying():
    """The notebooks initialise with eye_/zeros_: our identity init gives the same tensors by itself."""
    theirs = ref.SeedResidual(2, 2, 2, bn=True)
    ours = build_model(in_dim=2, out_dim=2, hidden=[2, 2], residual=True, norm="batch", init="identity")
    x = torch.randn(30, 2)
    assert torch.equal(theirs(x), ours(x))


def test_d2l_scratch_layout_transposes():
    torch.manual_seed(0)
    theirs = ref.SeedD2LScratch(784, 10, 256)
    ours = build_model(in_dim=784, out_dim=10, hidden=[256])
    ours.load_state_dict({"net.0.weight": theirs.W1.T, "net.0.bias": theirs.b1, "net.2.weight": theirs.W2.T, "net.2.bias": theirs.b2})
    x = torch.randn(8, 784)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


def test_parameter_count_exercise_1():
    assert count_parameters(ModelSpec(in_dim=2, hidden=[32], out_dim=1)) == 129
    assert count_parameters(build_model(in_dim=784, hidden=[256], out_dim=10)) == 784 * 256 + 256 + 256 * 10 + 10
    rows = parameter_table(dict(in_dim=2, hidden=[32], out_dim=1))
    assert rows == [("net.0.weight", (32, 2), 64), ("net.0.bias", (32,), 32), ("net.2.weight", (1, 32), 32), ("net.2.bias", (1,), 1)]


VARIANTS = [
    dict(zip(("hidden", "activation", "residual", "norm", "init"), combo))
    for combo in itertools.product(
        ([], [3], [4, 4]), ("relu", "tanh", "leaky_relu"), (False, True), ("none", "batch", "layer"),
        ("default", "xavier_uniform", "kaiming", "identity"),
    )
    if not (combo[2] and not combo[0])
]


@pytest.mark.parametrize("fields", VARIANTS[::7], ids=lambda f: "-".join(str(v) for v in f.values()))
def test_contract_every_variant(fields):
    """Builds, is deterministic per seed, counts its parameters, gives finite (n, out) outputs."""
    a = build_model(in_dim=2, out_dim=3, seed=5, **fields)
    b = build_model(in_dim=2, out_dim=3, seed=5, **fields)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    x = torch.randn(16, 2)
    y = a(x)
    assert y.shape == (16, 3) and torch.isfinite(y).all()
    assert count_parameters(a) == count_parameters(ModelSpec(in_dim=2, out_dim=3, **fields))


def test_seed_changes_default_init_and_leaves_global_rng():
    state = torch.get_rng_state()
    a, b = build_model(hidden=[8], seed=0), build_model(hidden=[8], seed=1)
    assert not torch.equal(a.net[0].weight, b.net[0].weight)
    assert torch.equal(state, torch.get_rng_state())


def test_constant_init_and_norm_positions():
    m = build_model(hidden=[3], init="constant", init_value=0.25)
    assert torch.all(m.net[0].weight == 0.25) and torch.all(m.net[0].bias == 0)
    pre = build_model(hidden=[3], norm="batch", norm_position="pre")
    post = build_model(hidden=[3], norm="batch", norm_position="post")
    assert [type(x).__name__ for x in pre.net] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [type(x).__name__ for x in post.net] == ["Linear", "ReLU", "BatchNorm1d", "Linear"]


@pytest.mark.parametrize("fields,param", [
    (dict(hidden=[0]), "model.hidden"),
    (dict(activation="swish"), "model.activation"),
    (dict(residual=True), "model"),
    (dict(widths=[3]), "model.widths"),
    (dict(in_dim=2, poly_degree=3), "model"),
])
def test_bad_spec_names_the_field(fields, param):
    with pytest.raises(SpecError) as info:
        build_model(**fields)
    assert str(info.value).startswith(param)


def test_identity_init_on_a_wide_layer_keeps_the_default_init_beyond_the_input_width():
    ident = build_model(in_dim=2, hidden=[8, 3], out_dim=2, init="identity", seed=4)
    default = build_model(in_dim=2, hidden=[8, 3], out_dim=2, seed=4)
    w, b = ident.net[0].weight.detach(), ident.net[0].bias.detach()
    assert torch.equal(w[:2], torch.eye(2)) and torch.equal(b[:2], torch.zeros(2))
    assert torch.equal(w[2:], default.net[0].weight[2:].detach()) and torch.equal(b[2:], default.net[0].bias[2:].detach())
    narrow = ident.net[2].weight.detach()  # 8 -> 3: the identity on the leading block, a projection
    assert torch.equal(narrow, torch.eye(3, 8))
    square = build_model(in_dim=2, hidden=[2], out_dim=2, init="identity", seed=4)
    for layer in (square.net[0], square.net[2]):  # notebook 000's square layers: eye_ and zeros, as before
        assert torch.equal(layer.weight.detach(), torch.eye(2)) and torch.equal(layer.bias.detach(), torch.zeros(2))


def test_readme_wider_example_learns_like_the_default_init():
    """The README's file (piecewise-mlp, hidden = [8], 3000 epochs, lr 0.005): eye_ alone left 6 of 8 units dead
    and ended at loss 29.5 against 3.0 for the default init."""
    import mlplab

    runs = {init: mlplab.run("piecewise-mlp", model={"hidden": [8], "init": init}, train={"epochs": 3000, "lr": 0.005})
            for init in ("identity", "default")}
    from mlplab.diagnostics import dead_units

    assert dead_units(runs["identity"].model, runs["identity"].data.X)[0][1] == 0 and runs["identity"].message == ""
    assert runs["identity"].final_loss < 2 * runs["default"].final_loss < 10
