"""``python -m resgenome`` (and ``torchrun -m resgenome``) runs the command line."""

from .cli import run

run()
