"""Persistent state in SQLite (WAL): the order outbox, the store<->ERP id map, the last
catalog pushed, sync runs, errors, events and small key/values (cursors).

`State` is the state file (`bridge.state.db.Db`: one connection, one worker thread) and its
repositories, one per group of tables: `state.outbox`, `state.idmap`, `state.pushed`,
`state.staging`, `state.runs`, `state.errors`, `state.events`, `state.kv`. Their methods
are synchronous and thread-safe; the engine calls them through `State.call`, which runs
them on the state's thread so that the event loop (and the UI on it) never waits on disk.

A damaged state file is moved aside and a new one started (bridge.state.db), marked as
rebuilt: every order taken into it while the mark stands is flagged to be looked up in the
ERP before any send (the store lists the pending ones again), until the first complete
listing lifts it (`finish_rebuild`).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from bridge.state.catalog import Pushed, Staging
from bridge.state.db import (
    REBUILT_FROM_KEY,
    REBUILT_KEY,
    REBUILT_SUBJECT,
    SCHEMA_VERSION,
    Db,
    file_damage,
    set_aside,
    storage_problem,
)
from bridge.state.errors import Errors
from bridge.state.events import Events
from bridge.state.idmap import IdMap
from bridge.state.kv import Kv
from bridge.state.outbox import (
    RESERVING_STATES,
    OrderState,
    Outbox,
    OutboxRow,
    dump_payload,
    load_payload,
    order_number,
    payload_hash,
)
from bridge.state.runs import Runs

__all__ = [
    "RESERVING_STATES",
    "SCHEMA_VERSION",
    "OrderState",
    "OutboxRow",
    "State",
    "dump_payload",
    "file_damage",
    "load_payload",
    "order_number",
    "payload_hash",
    "set_aside",
    "storage_problem",
]

log = logging.getLogger("bridge.state")


class State(Db):
    """The state file and its repositories."""

    def __init__(self, path: Path, *, recover: bool = True) -> None:
        """Open the state file, or create it (see `Db`). A new one that replaced a damaged
        one is marked as rebuilt (`set_aside`, `rebuilt_note` say so)."""
        super().__init__(path, recover=recover)
        self.outbox = Outbox(self)
        self.idmap = IdMap(self)
        self.pushed = Pushed(self)
        self.staging = Staging(self)
        self.runs = Runs(self)
        self.errors = Errors(self)
        self.events = Events(self)
        self.kv = Kv(self)
        self.rebuilt_note: str | None = None
        if self.damage is not None:
            try:
                self._mark_rebuilt(self.damage)
            except sqlite3.Error as exc:
                self.close()
                raise storage_problem(path, exc) or exc from None

    def _mark_rebuilt(self, problem: str) -> None:
        """A new state file replaced a damaged one: mark it (orders taken in are flagged
        for a lookup in the ERP) and say so in the log, the events and the error list."""
        assert self.set_aside is not None
        now = time.time()
        message = (
            f"The state file was damaged ({problem}) and was moved aside to "
            f"{self.set_aside}; a new one was started. The orders pending in the "
            "store are taken in again, and each is looked up in the ERP before any "
            "send, so none is sent twice"
        )
        self.kv.set(REBUILT_KEY, repr(now))
        self.kv.set(REBUILT_FROM_KEY, str(self.set_aside))
        self.errors.open(
            "orders", REBUILT_SUBJECT, kind="data", code="state_rebuilt", message=message
        )
        self.events.add(
            [
                (
                    now,
                    "error",
                    "engine",
                    "state_rebuilt",
                    message,
                    {"aside": str(self.set_aside), "problem": problem},
                )
            ]
        )
        log.error("%s", message)
        self.rebuilt_note = message

    # -- a rebuilt state file -----------------------------------------------------------------
    def rebuilding(self) -> bool:
        return self.kv.get(REBUILT_KEY) is not None

    def finish_rebuild(self) -> str | None:
        """After the first complete listing of the store's pending orders into a rebuilt
        state file: every order the store still waits for was taken in (flagged), so the
        mark is lifted (orders taken in from now on are new ones) and the error entry says
        how many were checked. Returns that line, or None when nothing was being rebuilt."""
        if not self.rebuilding():
            return None
        with self.tx() as db:
            n, found = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(attempts = 0 AND state IN "
                "('sent_to_erp','done')), 0) FROM outbox WHERE reconcile = 1"
            ).fetchone()
            db.execute("DELETE FROM meta WHERE key IN (?, ?)", (REBUILT_KEY, REBUILT_FROM_KEY))
        message = (
            f"The state file was damaged and was rebuilt: {n} orders pending in the "
            "store were taken in again and looked up in the ERP before any send; "
            f"{found} were already there and were not sent again"
        )
        self.errors.open(
            "orders", REBUILT_SUBJECT, kind="data", code="state_rebuilt", message=message
        )
        return message

    # -- wall-clock times that schedule work --------------------------------------------------
    def shift_wall_times(self, delta: float) -> None:
        """The computer's clock moved by `delta` s without time passing (set back, say):
        the waits recorded in wall time (retries, creations in doubt) move with it, so they
        last as long as they would have."""
        with self.tx() as db:
            db.execute(
                "UPDATE outbox SET next_attempt_at = next_attempt_at + ? WHERE "
                "next_attempt_at IS NOT NULL AND state != 'done'",
                (delta,),
            )
            db.execute("UPDATE writes_in_doubt SET since = since + ?", (delta,))

    def clamp_wall_times(self, now: float, longest_wait: float) -> int:
        """Wall times later than any wait Bridge sets (the clock was set back while it was
        not running) are brought back: a retry to at most `longest_wait` from now, a
        creation in doubt to now (its settle window starts again). Returns how many."""
        with self.tx() as db:
            n = db.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ? "
                "AND state != 'done'",
                (now + longest_wait, now + longest_wait),
            ).rowcount
            n += db.execute(
                "UPDATE writes_in_doubt SET since = ? WHERE since > ?", (now, now)
            ).rowcount
        return n
