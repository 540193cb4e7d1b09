"""Errors raised by sandbox rules and turned into Flexiti-shaped error bodies."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ApiError", "FieldError", "InputError", "conflict", "not_found"]


class FieldError(NamedTuple):
    """One entry of a ``wrong_inputs`` body: ``{"param", "msg", "value"}``."""

    param: str
    msg: str
    value: str = ""


class ApiError(Exception):
    """A ``{code, error, error_description}`` error response."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description or error


class InputError(Exception):
    """A 409 ``wrong_inputs`` response with field errors."""

    def __init__(self, *field_errors: FieldError) -> None:
        super().__init__(", ".join(f"{f.param}: {f.msg}" for f in field_errors))
        self.field_errors = list(field_errors)


def conflict(error: str, description: str | None = None) -> ApiError:
    """A 409 business-rule error."""
    return ApiError(409, error, description)


def not_found(description: str = "not_found") -> ApiError:
    """A 404 ``not_found`` error."""
    return ApiError(404, "not_found", description)
