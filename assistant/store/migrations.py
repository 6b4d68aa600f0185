"""Numbered migrations: ``MIGRATIONS[n]`` brings a store at schema ``n - 1`` to schema ``n``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, text

from assistant.store.schema import api_keys, learned, questions, tag_corrections, ui_sessions
from erp_assist.settings import DEFAULT_TENANT

__all__ = ["MIGRATIONS"]


def _add_tenants(conn: Connection) -> None:
    """2: a ``tenant`` on keys, questions and learned FAQ rows; everything already stored is the default tenant's."""
    for table in (api_keys, questions, learned):
        if "tenant" not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN tenant VARCHAR(32) NOT NULL "
                              f"DEFAULT '{DEFAULT_TENANT}'"))
    for table in (questions, learned):
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table.name}_tenant ON {table.name} (tenant)"))


def _add_tag_corrections(conn: Connection) -> None:
    """3: experts' module/urgency corrections (a new table; nothing stored changes)."""
    tag_corrections.create(conn, checkfirst=True)


def _add_ui_sessions(conn: Connection) -> None:
    """4: review-page sessions in the store instead of one process's memory (a new table; nothing stored changes)."""
    ui_sessions.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_tenants, 3: _add_tag_corrections, 4: _add_ui_sessions,
}
