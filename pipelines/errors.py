"""One small error hierarchy, so apps can tell the user's mistakes from ours."""
from __future__ import annotations


class DigitalHumanError(Exception):
    """Base of every error this project raises on purpose."""


class UserInputError(DigitalHumanError, ValueError):
    """Bad input from the user: names the file (or value) and what is wrong with it."""

    def __init__(self, message: str, *, path: object | None = None):
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ConfigError(DigitalHumanError, ValueError):
    """An invalid configuration key, value or engine name."""


class MissingDependency(DigitalHumanError, ImportError):
    """An optional package is not installed; the message carries the pip command."""


class ModelFilesError(DigitalHumanError, RuntimeError):
    """Bundled or user-supplied weights are missing or corrupt."""


class ServiceUnavailable(DigitalHumanError, RuntimeError):
    """A server a stage depends on cannot be reached, refused, or did not answer in time."""


class StageError(DigitalHumanError, RuntimeError):
    """A stage failed while working; tags which stage so flows can report it."""

    def __init__(self, kind: str, name: str, cause: BaseException):
        self.kind, self.name, self.cause = kind, name, cause
        super().__init__(f"{kind} stage '{name}' failed: {cause}")
