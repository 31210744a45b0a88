"""Pipeline runs: one row per run, opened when it starts and closed with its outcome."""

from __future__ import annotations

import time
from typing import Any

from bridge.model import RunStatus
from bridge.redact import redact
from bridge.state.db import Repository


class Runs(Repository):
    """The `runs` table."""

    def start(self, pipeline: str, trigger: str) -> int:
        with self.db.tx() as db:
            cur = db.execute(
                "INSERT INTO runs (pipeline, trigger, started_at) VALUES (?,?,?)",
                (pipeline, trigger, time.time()),
            )
            return int(cur.lastrowid or 0)

    def finish(
        self,
        run_id: int,
        *,
        status: RunStatus,
        items_ok: int,
        items_failed: int,
        items_seen: int,
        requests: int,
        message: str,
    ) -> None:
        message = redact(message)
        with self.db.tx() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, status=?, items_ok=?, items_failed=?, "
                "items_seen=?, requests=?, message=? WHERE id=?",
                (
                    time.time(),
                    status,
                    items_ok,
                    items_failed,
                    items_seen,
                    requests,
                    message,
                    run_id,
                ),
            )

    def interrupt(self, pipeline: str, message: str) -> None:
        """Runs of `pipeline` still open (stopped at their deadline) end as failed."""
        with self.db.tx() as db:
            db.execute(
                "UPDATE runs SET status='failed', finished_at=?, message=? WHERE "
                "pipeline=? AND status='running'",
                (time.time(), message, pipeline),
            )

    def close_stale(self) -> None:
        with self.db.tx() as db:
            db.execute(
                "UPDATE runs SET status='interrupted', finished_at=started_at "
                "WHERE status='running'"
            )

    def last(self, pipeline: str, status: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM runs WHERE pipeline=? AND status != 'running'"
        args: list[Any] = [pipeline]
        if status:
            sql += " AND status=?"
            args.append(status)
        rows = self.db.query(sql + " ORDER BY id DESC LIMIT 1", args)
        return dict(rows[0]) if rows else None

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        ]

    def items_per_day(self, pipeline: str, since: float) -> dict[str, int]:
        """Items a pipeline's runs did (`items_ok`) per local day, from `since` (wall time)."""
        rows = self.db.query(
            "SELECT date(started_at, 'unixepoch', 'localtime') AS d, SUM(items_ok) AS n "
            "FROM runs WHERE pipeline = ? AND started_at >= ? GROUP BY d",
            (pipeline, since),
        )
        return {r["d"]: int(r["n"] or 0) for r in rows}

    def last_with_items(self, pipeline: str) -> dict[str, Any] | None:
        """The last finished run of `pipeline` that did something (`items_ok` > 0)."""
        rows = self.db.query(
            "SELECT * FROM runs WHERE pipeline = ? AND status != 'running' AND items_ok > 0 "
            "ORDER BY id DESC LIMIT 1",
            (pipeline,),
        )
        return dict(rows[0]) if rows else None
