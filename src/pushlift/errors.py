"""Errors a user can act on: each names where the problem is."""

from __future__ import annotations


class PushliftError(Exception):
    """A problem with the user's input or request; the CLI prints it without a traceback."""


class InputError(PushliftError):
    """A bad file, row or value: names the file, the row (1-based, header is row 1) and column,
    or for a config file the field (e.g. `offers[2].max_bid_cents`)."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        row: int | None = None,
        column: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.row, self.column, self.field = file, row, column, field
        self.detail = message
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        if field is not None:
            where += f", field {field}"
        super().__init__(f"{where}: {message}")
