"""The event log kept in the state file (what the log view shows)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bridge.state.db import EVENT_ORDER, Repository, like_pattern, text_like


class Events(Repository):
    """The `events` table."""

    def add(self, rows: list[tuple[float, str, str, str, str, dict[str, Any] | None]]) -> None:
        """Many events in one transaction (one disk sync, not one per event)."""
        with self.db.tx() as db:
            db.executemany(
                "INSERT INTO events (ts, level, pipeline, code, message, data) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (ts, level, p, code, msg, json.dumps(d, default=str) if d else None)
                    for ts, level, p, code, msg, d in rows
                ],
            )

    def prune(self, keep: int) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (keep,))

    def for_order(self, store_order_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Every event about one order, oldest first (the `events_order` index: the data's
        `order` key)."""
        rows = self.db.query(
            f"SELECT * FROM (SELECT * FROM events WHERE {EVENT_ORDER} = ? "
            "ORDER BY id DESC LIMIT ?) ORDER BY id",
            (store_order_id, limit),
        )
        return [dict(r) for r in rows]

    def search(
        self, text: str, limit: int = 200, orders: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The newest events whose text or data contain `text` (any case), or that are
        about one of `orders` (the orders a search found: a CUIT typed without dashes finds
        the lines that write it with them), newest first. A scan (a few tens of ms over the
        most events the log keeps; printed by tests/test_search.py): a full-text index
        would cost every event's write for a search the merchant runs now and then."""
        text = text.strip()
        like = like_pattern(text)
        ids = list(orders)[:500]
        marks = ",".join("?" * len(ids))
        about = f" OR {EVENT_ORDER} IN ({marks})" if ids else ""
        rows = self.db.query(
            f"SELECT * FROM events WHERE {text_like('message', text)} LIKE ? ESCAPE '\\' "
            f"OR {text_like('data', text)} LIKE ? ESCAPE '\\'{about} ORDER BY id DESC LIMIT ?",
            (like, like, *ids, limit),
        )
        return [dict(r) for r in rows]

    def since(self, after_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM (SELECT * FROM events WHERE id > ? ORDER BY id DESC "
            "LIMIT ?) ORDER BY id",
            (after_id, limit),
        )
        return [dict(r) for r in rows]
