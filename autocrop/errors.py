"""User-facing errors: one line that names the file, key or frame and the fix; CLI exits 2."""

from __future__ import annotations


class AutocropError(Exception):
    """A problem with the user's input that they can fix; printed as one line, exit code 2."""


class ConfigError(AutocropError):
    """The config file or a --set override is invalid."""


class DataError(AutocropError):
    """Footage, labels or cached features are missing, corrupt or inconsistent."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so it unwinds like Ctrl-C (trials failed, runs closed)."""


class WorkersFailed(RuntimeError):
    """A `--workers` worker process exited with an error (printed by the worker itself); exit code 1."""
