"""User-facing errors of the fine-tune Job and their exit codes.

Every mistake a user can make (configuration, data, store, tag, environment) raises a
:class:`FinetuneError` subclass whose message says what is wrong and how to fix it; the
CLI prints ``error: <message>`` to stderr and exits with the class's code, never a
traceback. Codes are distinct so a Job's status tells the reason at a glance.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    CONFIG = 2
    DATA = 3
    STORE = 4
    TAG_EXISTS = 5
    GATE = 6
    ENVIRONMENT = 7
    # EX_TEMPFAIL: stopped by SIGTERM after writing a checkpoint; the Job should retry.
    INTERRUPTED = 75


class FinetuneError(Exception):
    """An error whose message is safe and useful to show to the user.

    Each subclass names its process exit code: ``class X(FinetuneError, exit_code=...)``.
    """

    exit_code = ExitCode.UNEXPECTED

    def __init_subclass__(cls, exit_code: ExitCode | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code


class ConfigError(FinetuneError, exit_code=ExitCode.CONFIG):
    """Invalid settings, hyper-parameters or configuration file."""


class DataError(FinetuneError, exit_code=ExitCode.DATA):
    """A dataset file is missing, empty or malformed."""


class StoreError(FinetuneError, exit_code=ExitCode.STORE):
    """The model store (or checkpoint store) cannot be reached or read."""


class TagExistsError(FinetuneError, exit_code=ExitCode.TAG_EXISTS):
    """The output tag is already published and overwriting was not forced."""


class GateError(FinetuneError, exit_code=ExitCode.GATE):
    """Evaluation accuracy is below ``min_eval_accuracy``: nothing is published."""


class EnvironmentProblem(FinetuneError, exit_code=ExitCode.ENVIRONMENT):
    """The machine cannot run what was asked (e.g. 4-bit QLoRA without CUDA)."""


class Interrupted(FinetuneError, exit_code=ExitCode.INTERRUPTED):
    """SIGTERM arrived: a checkpoint was written and the Job should be retried."""
