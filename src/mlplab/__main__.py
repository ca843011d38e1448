"""``python -m mlplab``: the same as the ``mlplab`` command."""

import sys

from . import _install_early_interrupt

_install_early_interrupt()  # before the command's imports: a Ctrl-C while it starts is one line, never a traceback

from .cli import main  # noqa: E402

sys.exit(main())
