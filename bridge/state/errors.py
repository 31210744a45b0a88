"""The error list: one open entry per (pipeline, subject), counted while it recurs."""

from __future__ import annotations

import time
from typing import Any

from bridge.redact import redact, redact_optional
from bridge.state.db import Repository


class Errors(Repository):
    """The `errors` table."""

    def open(
        self,
        pipeline: str,
        subject: str,
        *,
        kind: str,
        code: str,
        message: str,
        server_message: str | None = None,
    ) -> int:
        # servers' texts may quote a token: masked before they are kept
        message, server_message = redact(message), redact_optional(server_message)
        now = time.time()
        with self.db.tx() as db:
            row = db.execute(
                "SELECT id FROM errors WHERE pipeline=? AND subject=? AND state='open'",
                (pipeline, subject),
            ).fetchone()
            if row:
                db.execute(
                    "UPDATE errors SET kind=?, code=?, message=?, server_message=?, "
                    "last_at=?, count=count+1 WHERE id=?",
                    (kind, code, message, server_message, now, row["id"]),
                )
                return int(row["id"])
            cur = db.execute(
                "INSERT INTO errors (pipeline, subject, kind, code, message, "
                "server_message, first_at, last_at) VALUES (?,?,?,?,?,?,?,?)",
                (pipeline, subject, kind, code, message, server_message, now, now),
            )
            return int(cur.lastrowid or 0)

    def open_message(self, pipeline: str, subject: str) -> str | None:
        rows = self.db.query(
            "SELECT message FROM errors WHERE pipeline=? AND subject=? AND state='open'",
            (pipeline, subject),
        )
        return str(rows[0]["message"]) if rows else None

    def resolve(self, pipeline: str, subject: str, resolution: str = "succeeded") -> int:
        with self.db.tx() as db:
            return db.execute(
                "UPDATE errors SET state='resolved', resolution=? WHERE "
                "pipeline=? AND subject=? AND state='open'",
                (resolution, pipeline, subject),
            ).rowcount

    def resolve_like(self, pipeline: str, prefix: str, keep: set[str]) -> None:
        """Resolve the open errors of a pipeline whose subject starts with `prefix`, except
        those in `keep` (the ones the last full pass saw again)."""
        rows = self.db.query(
            "SELECT id, subject FROM errors WHERE pipeline=? AND state='open' AND subject LIKE ?",
            (pipeline, prefix + "%"),
        )
        gone = [r["id"] for r in rows if r["subject"] not in keep]
        with self.db.tx() as db:
            db.executemany(
                "UPDATE errors SET state='resolved', resolution='gone' WHERE id=?",
                [(i,) for i in gone],
            )

    def recent(self, state: str = "open", limit: int = 500) -> list[dict[str, Any]]:
        """Errors, newest first; `number` is the store order number for order errors."""
        return [
            dict(r)
            for r in self.db.query(
                "SELECT e.*, o.number AS number FROM errors e LEFT JOIN outbox o ON "
                "e.subject = 'order:' || o.store_order_id WHERE e.state=? ORDER BY e.last_at DESC "
                "LIMIT ?",
                (state, limit),
            )
        ]

    def get(self, error_id: int) -> dict[str, Any] | None:
        rows = self.db.query("SELECT * FROM errors WHERE id=?", (error_id,))
        return dict(rows[0]) if rows else None

    def close(self, error_id: int, state: str, resolution: str) -> None:
        with self.db.tx() as db:
            db.execute(
                "UPDATE errors SET state=?, resolution=? WHERE id=? AND state='open'",
                (state, resolution, error_id),
            )

    def summary(self) -> list[dict[str, Any]]:
        """The open errors counted by kind, code and subject (an order's subject counted
        as "order"): enough to tell their causes (bridge.status.error_cause) without
        reading every row."""
        return [
            dict(r)
            for r in self.db.query(
                "SELECT kind, code, CASE WHEN subject LIKE 'order:%' THEN 'order:' "
                "ELSE subject END AS subject, COUNT(*) AS n FROM errors WHERE state='open' "
                "GROUP BY 1, 2, 3"
            )
        ]

    def open_rows(self) -> list[dict[str, Any]]:
        """Every open error's id, pipeline, subject, kind and code."""
        return [
            dict(r)
            for r in self.db.query(
                "SELECT id, pipeline, subject, kind, code FROM errors WHERE state='open'"
            )
        ]

    def resolve_ids(self, ids: list[int], resolution: str) -> list[int]:
        """Resolve these open errors (their cause is gone); the ids it did resolve."""
        with self.db.tx() as db:
            return [
                i
                for i in ids
                if db.execute(
                    "UPDATE errors SET state='resolved', resolution=? WHERE id=? AND state='open'",
                    (resolution, i),
                ).rowcount
            ]

    def reopen(self, error_id: int, state: str) -> bool:
        """An error closed as `state` (a discard undone) is open again, as it was; not
        when its subject has an open error again meanwhile (never two rows of one)."""
        with self.db.tx() as db:
            row = db.execute(
                "SELECT pipeline, subject FROM errors WHERE id=? AND state=?", (error_id, state)
            ).fetchone()
            if row is None:
                return False
            other = db.execute(
                "SELECT 1 FROM errors WHERE pipeline=? AND subject=? AND state='open'",
                (row["pipeline"], row["subject"]),
            ).fetchone()
            if other is not None:
                return False
            db.execute("UPDATE errors SET state='open', resolution=NULL WHERE id=?", (error_id,))
            return True

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.db.query(
            "SELECT kind, COUNT(*) AS n FROM errors WHERE state='open' GROUP BY kind"
        ):
            out[r["kind"]] = r["n"]
        return out

    def per_day(self, since: float) -> dict[str, int]:
        """Errors that first appeared per local day, from `since` (wall time)."""
        rows = self.db.query(
            "SELECT date(first_at, 'unixepoch', 'localtime') AS d, COUNT(*) AS n "
            "FROM errors WHERE first_at >= ? GROUP BY d",
            (since,),
        )
        return {r["d"]: int(r["n"]) for r in rows}
