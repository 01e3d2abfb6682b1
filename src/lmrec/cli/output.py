"""How the `lmrec` command talks to its user: errors as one line with exit code 2, and progress lines on
stderr in one format.

Errors: `LmrecGroup` is the class of the root command. Every sub-command is parsed and run inside the
root's `invoke`, so this is the one place where a user error becomes a message: an `LmrecError` raised
anywhere below (bad data or config, an unknown id, a damaged model file, an impossible option value:
`OptionError`) prints

    error: <the message, naming the input>

on stderr and exits with code 2, both as a process and under typer's `CliRunner`. Anything else is a bug
and keeps its traceback. Commands check option values themselves and raise `OptionError` rather than
`typer.BadParameter` or an option's `min=`: those are click usage errors, which typer prints as a
five-line box, and catching them here would mean importing the click copy typer vendors privately.

Progress: results go to stdout; what happens meanwhile (data loading, search trials, the per-epoch lines
that models training in epochs log to the `lmrec.train` logger) goes to one stderr console as
`[time] message` lines, in `lmrec run` and `lmrec train` alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from lmrec.errors import LmrecError, OptionError

TRAIN_LOGGER = "lmrec.train"
"""The logger the sequence-model trainer writes its per-epoch lines to."""


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with code 2."""
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {message}", err=True)
    raise SystemExit(2)


class LmrecGroup(TyperGroup):
    """The root command: runs every sub-command so that an `LmrecError` becomes `fail(message)`."""

    def invoke(self, ctx: Any) -> Any:  # a click Context: typer declares its class in a private module
        try:
            return super().invoke(ctx)
        except LmrecError as exc:
            fail(str(exc))


def check_positive(values: int | list[int] | None, option: str) -> None:
    """List lengths and counts must be >= 1: an `OptionError` naming the option otherwise."""
    given = values if isinstance(values, list) else [] if values is None else [values]
    bad = [v for v in given if v < 1]
    if bad:
        raise OptionError(f"{option} must be a positive integer, got {bad[0]}")


def progress_console(*, quiet: bool = False) -> Console:
    """The stderr console for progress lines (`console.log`: time, then the message)."""
    return Console(stderr=True, quiet=quiet, log_path=False)


class _ConsoleHandler(logging.Handler):
    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.log(record.getMessage(), markup=False, highlight=False)
        except Exception:  # logging must not break training; report it the logging way
            self.handleError(record)


@contextmanager
def training_log(console: Console) -> Iterator[None]:
    """Show the `lmrec.train` per-epoch lines on `console` while the block runs (then detach again, so a
    second command in the same process does not print them twice)."""
    logger = logging.getLogger(TRAIN_LOGGER)
    handler = _ConsoleHandler(console)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
