"""How the `lmrec` command talks to its user: errors as one line with exit code 2, and progress lines on
stderr in one format.

Errors: `LmrecGroup` is the class of the root command. Every sub-command is parsed and run inside the
root's `invoke`, so this is the one place where a user error becomes a message: an `LmrecError` raised
anywhere below (bad data or config, an unknown id, a damaged model file, an impossible option value:
`OptionError`) prints

    error: <the message, naming the input>

on stderr and exits with code 2, both as a process and under typer's `CliRunner`. Anything else is a bug
and keeps its traceback. Click's own usage errors (an unknown
option, `-n abc`, a missing argument) are caught in the same place and printed the same way, one line
naming the option and the command's `--help`, instead of typer's five-line box.

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
SEARCH_LOGGER = "lmrec.search"
"""The logger a model's search flags a selection on the edge of its grid on (`lmrec.experiment.tuning`)."""


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with code 2."""
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {message}", err=True)
    raise SystemExit(2)


class LmrecGroup(TyperGroup):
    """The root command: parses and runs every sub-command so that a user error becomes one line.

    An `LmrecError` becomes `fail(message)`; so does a click usage error (an unknown option, `-n abc`, a
    missing argument, a value outside a declared range), which typer would print as a boxed block of five or
    six lines. `NoArgsIsHelpError` (a group called without a sub-command) is a usage error too but prints
    the help, so it passes through."""

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        with _usage_errors_as_one_line():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:  # a click Context: typer declares its class in a private module
        with _usage_errors_as_one_line():
            try:
                return super().invoke(ctx)
            except LmrecError as exc:
                fail(str(exc))


@contextmanager
def _usage_errors_as_one_line() -> Iterator[None]:
    # typer vendors click in a private module and exports none of its usage-error classes (only
    # BadParameter, a subclass); the version is pinned in constraints.txt and tests/core/test_cli_errors.py
    # fails if these names move
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    try:
        yield
    except NoArgsIsHelpError:
        raise
    except UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        fail(f"{exc.format_message()}{hint}")


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
    """Show the `lmrec.train` per-epoch lines on `console` while the block runs, and the `lmrec.search`
    warnings (a selection on the edge of its grid) on it too, or on stderr when it is quiet: a warning is
    not progress. Then detach again, so a second command in the same process does not print them twice."""
    loggers = [
        (logging.getLogger(TRAIN_LOGGER), _ConsoleHandler(console)),
        (logging.getLogger(SEARCH_LOGGER), _ConsoleHandler(progress_console() if console.quiet else console)),
    ]
    levels = [logger.level for logger, _ in loggers]
    for logger, handler in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for (logger, handler), level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
