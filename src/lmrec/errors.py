"""Exceptions shared across lmrec. Each names the problem so a user can fix it."""


class LmrecError(Exception):
    """Base class of every error lmrec raises on purpose."""


class DataError(LmrecError, ValueError):
    """Input data is malformed; the message names file, row/line and column where known."""


class DatasetNotFoundError(LmrecError, FileNotFoundError):
    """A dataset is neither available locally nor downloadable; the message says how to point at a copy."""


class NotFittedError(LmrecError, RuntimeError):
    """A model was asked to score or recommend before `fit` was called."""


class LeakageError(LmrecError, AssertionError):
    """A split lets evaluation interactions reach training data."""


class ConfigError(LmrecError, ValueError):
    """An experiment file or model config is invalid (unknown key, wrong type, impossible value)."""


class OptionError(LmrecError, ValueError):
    """A command-line option or argument has an impossible value; the message names the option."""


class UnknownIdError(LmrecError, KeyError):
    """A raw user or item id is not in the vocabulary and the caller asked for a strict lookup."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument (quoted); this error carries a sentence.
        return str(self.args[0]) if len(self.args) == 1 else Exception.__str__(self)


class CapabilityError(LmrecError, ValueError):
    """A model was asked for something it does not declare it can do; the message names the capability
    and a model that has it."""


def yaml_problem(exc: Exception) -> str:
    """One line for a PyYAML error: "line L, column C: <problem> (<context> at line l, column c)", with
    1-based positions; PyYAML's own text spreads them over five or more lines with a caret drawing."""
    import yaml

    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return " ".join(str(exc).split())  # e.g. a reader error: its own text, on one line
    mark = exc.problem_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context:
        at = exc.context_mark
        text += f" ({exc.context}" + (f" at line {at.line + 1}, column {at.column + 1})" if at else ")")
    return text
