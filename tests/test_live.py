"""The live curve callback follows training without changing it."""

import numpy as np

import mlplab
from mlplab.viz import LiveCurve


def test_live_curve_tracks_steps_and_epochs():
    data = mlplab.make_dataset("moons", n=200)
    live = LiveCurve(interval=0.0)
    kw = dict(optimizer="adam", lr=0.05, loss="bce", epochs=4, batch_size=50, val_fraction=0.25)
    run = mlplab.train(mlplab.build_model(hidden=[8], out_activation="sigmoid"), data, callbacks=[live], **kw)
    fig = live.figure
    assert np.allclose(np.asarray(fig.data[0].y, dtype=np.float32), run.losses)
    names = {tr.name for tr in fig.data}
    assert {"val_loss", "val_accuracy", "train_loss"} <= names
    val = next(tr for tr in fig.data if tr.name == "val_loss")
    assert list(val.x) == [3, 6, 9, 12] and np.allclose(val.y, run.epoch_metrics["val_loss"])
    again = mlplab.train(mlplab.build_model(hidden=[8], out_activation="sigmoid"), data, **kw)
    assert np.array_equal(again.losses, run.losses)  # watching does not change the run


def test_live_curve_on_the_fused_path():
    live = LiveCurve(interval=0.0)
    run = mlplab.run("piecewise-mlp", epochs=50)
    run2 = mlplab.train(mlplab.build_model(mlplab.experiment("piecewise-mlp").model), run.data, epochs=50, callbacks=[live])
    assert run2.engine == "compiled" and len(live.figure.data[0].y) == 50
