"""Domain errors. Services raise them; the API turns them into 4xx bodies and the UI into
messages next to the field."""

from __future__ import annotations


class DomainError(Exception):
    """A request that is well-formed but not allowed by the rules of the domain."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConflictError(DomainError):
    """The record changed under the caller, or the request clashes with existing data."""

    status_code = 409


class TransitionError(ConflictError):
    """An illegal state transition; ``allowed`` names the transitions that are possible."""

    def __init__(self, message: str, *, allowed: list[str] | None = None) -> None:
        super().__init__(message, field="status")
        self.allowed = allowed or []
