"""Training: the loop, its callbacks, and the `Run` it returns."""
