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
    """An error whose message is safe and useful to show to the user."""

    exit_code = ExitCode.UNEXPECTED


class ConfigError(FinetuneError):
    """Invalid settings, hyper-parameters or configuration file."""

    exit_code = ExitCode.CONFIG


class DataError(FinetuneError):
    """A dataset file is missing, empty or malformed."""

    exit_code = ExitCode.DATA


class StoreError(FinetuneError):
    """The model store (or checkpoint store) cannot be reached or read."""

    exit_code = ExitCode.STORE


class TagExistsError(FinetuneError):
    """The output tag is already published and overwriting was not forced."""

    exit_code = ExitCode.TAG_EXISTS


class GateError(FinetuneError):
    """Evaluation accuracy is below ``min_eval_accuracy``: nothing is published."""

    exit_code = ExitCode.GATE


class EnvironmentProblem(FinetuneError):
    """The machine cannot run what was asked (e.g. 4-bit QLoRA without CUDA)."""

    exit_code = ExitCode.ENVIRONMENT


class Interrupted(FinetuneError):
    """SIGTERM arrived: a checkpoint was written and the Job should be retried."""

    exit_code = ExitCode.INTERRUPTED
