"""Numbered migrations: ``MIGRATIONS[n]`` brings a store at schema ``n - 1`` to schema ``n``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, text

from assistant.store.schema import (
    api_keys,
    erp_alert_posts,
    erp_alert_state,
    erp_lookups,
    kb_resolutions,
    learned,
    questions,
    tag_corrections,
    ui_sessions,
)
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


def _add_off_topic(conn: Connection) -> None:
    """5: the off-topic flag on questions (everything stored so far was taken as on topic) and on tag
    corrections."""
    default = "false" if conn.dialect.name == "postgresql" else "0"
    columns = {"questions": [f"off_topic BOOLEAN NOT NULL DEFAULT {default}"],
               "tag_corrections": ["off_topic BOOLEAN", "previous_off_topic BOOLEAN"]}
    for table, definitions in columns.items():
        existing = {c["name"] for c in inspect(conn).get_columns(table)}
        for definition in definitions:
            if definition.split()[0] not in existing:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {definition}"))


def _add_erp_lookups_and_alerts(conn: Connection) -> None:
    """6 (issue #21, ERP lookups and alerts): the lookup audit trail and the alert state and post log (new
    tables; nothing stored changes)."""
    for table in (erp_lookups, erp_alert_state, erp_alert_posts):
        table.create(conn, checkfirst=True)


def _add_kb_resolutions(conn: Connection) -> None:
    """7 (issue #20, knowledge-base hygiene): experts' resolutions of duplicate/contradiction/stale findings (a
    new table; nothing stored changes)."""
    kb_resolutions.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_tenants, 3: _add_tag_corrections, 4: _add_ui_sessions, 5: _add_off_topic,
    6: _add_erp_lookups_and_alerts, 7: _add_kb_resolutions,
}
