"""One error type for bad user input, with one message template.

Every surface (Python, CLI, web) shows the same sentence: the parameter, what it must be, what it
got, and the likely fix. The CLI turns it into exit code 2; the web page into a 4xx answer.
"""

from __future__ import annotations


class MlplabError(Exception):
    """Base class of every error mlplab raises on purpose."""


class SpecError(MlplabError, ValueError):
    """A value given by the user is not acceptable.

    >>> raise SpecError("model.hidden", "a list of positive widths", [0])
    Traceback (most recent call last):
    ...
    mlplab.errors.SpecError: model.hidden: expected a list of positive widths, got [0]
    """

    def __init__(self, param: str, expected: str, got: object, hint: str | None = None):
        self.param, self.expected, self.got, self.hint = param, expected, got, hint
        text = f"{param}: expected {expected}, got {_short(got)}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class DataFileError(MlplabError, ValueError):
    """A data file is missing, truncated or malformed; the message names the file."""

    def __init__(self, path: object, problem: str, hint: str | None = None):
        self.path, self.problem = path, problem
        text = f"{path}: {problem}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class TrainingDiverged(MlplabError, RuntimeError):
    """The loss became NaN or infinite; the run up to that step is kept."""


class DeadUnitsWarning(UserWarning):
    """A trained model has ReLU units that never activated on its training data (they cannot learn)."""


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
