"""Typed errors. The CLI prints ``str(error)`` as one line and exits with code 2."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_NOISE = ("Exception from src/", "Check '")  # OpenVINO's location lines before the actual message


def message_lines(e: BaseException) -> list[str]:
    """The non-empty lines of an exception's message, stripped, colour codes removed."""
    return [ln.strip() for ln in _ANSI.sub("", str(e)).splitlines() if ln.strip()]


def first_line(e: BaseException, limit: int = 300, lines: int = 1) -> str:
    """The first non-empty line(s) of an exception's message (colour codes and OpenVINO's source-location lines
    removed; several joined with ``; ``), at most ``limit`` characters."""
    found = message_lines(e)
    useful = [ln for ln in found if not ln.startswith(_NOISE)] or found
    return "; ".join(useful[:lines])[:limit]


def describe_failure(e: BaseException, limit: int = 300) -> str:
    """One line for a failure of a third-party library: ``Type: first line``; our own errors as they are."""
    if isinstance(e, DLCompressError):
        return str(e)
    return f"{type(e).__name__}: {first_line(e, limit)}"


class DLCompressError(Exception):
    """Base class for every error that is the user's to fix (bad input, missing package, ...).

    ``hint`` says what to do about it; it is appended to the message.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class UnknownNameError(DLCompressError):
    """A name that is not in a registry."""


class ModelLoadError(DLCompressError):
    """The model, its factory or its weights could not be loaded."""


class WeightsError(ModelLoadError):
    """A checkpoint is unreadable or does not match the architecture."""


class InputShapeError(DLCompressError):
    """The input shape is missing, malformed, or does not fit the model."""


class DatasetError(DLCompressError):
    """A dataset is missing, unreadable or does not fit the task."""


class OutputExistsError(DLCompressError):
    """The output folder or file exists and ``--overwrite`` was not given."""


class OutputNotWritableError(DLCompressError):
    """The output folder cannot be created where it was asked for (no write permission, a file in the way)."""


class InvalidModelFileError(DLCompressError):
    """A model file (ONNX, ...) is corrupt or not what its name says."""


class ExportError(DLCompressError):
    """Every export route failed."""


class ValidationError(DLCompressError):
    """An exported model's outputs do not match the reference."""


class InferenceError(DLCompressError):
    """A runtime loaded the model but failed to run it on the given inputs."""


class StaticShapeError(InputShapeError, InferenceError):
    """A static-shape model (LiteRT) was fed inputs of another shape it cannot be resized to."""


class QuantizationError(DLCompressError):
    """Quantization failed."""


class BackendUnavailableError(DLCompressError):
    """An optional backend is not installed."""


class UnsupportedError(DLCompressError):
    """The combination asked for is not supported (format, stage, option)."""


class GateError(DLCompressError):
    """A quality gate (``--min-metric``, ``--max-drop``) failed."""
