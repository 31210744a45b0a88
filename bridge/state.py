"""Persistent state in SQLite (WAL): the order outbox, the store<->ERP id map, the last
catalog pushed, sync runs, errors, events and small key/values (cursors).

All methods are synchronous and thread-safe; the engine calls them through `State.call`,
which runs them on one worker thread so that the event loop (and the UI on it) never waits
on disk.

Failures of the file itself are StorageErrors (bridge.files) with one line for people: a
folder or file that cannot be written, a full disk (the write's transaction is rolled back,
so nothing that was recorded is lost). A damaged state file found when it opens (SQLite
cannot read it, `PRAGMA quick_check` fails, a write-ahead log SQLite would silently drop)
is moved aside next to it (`state.sqlite3.corrupt-YYYYmmdd-HHMMSS`, with its -wal and -shm)
and a new one is started, marked as rebuilt: every order taken into it while the mark
stands is flagged to be looked up in the ERP before any send (the store lists the pending
ones again), until the first complete listing lifts it (`finish_rebuild`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import msgspec

from bridge.files import StorageError, folder_problem, private_dir, private_file
from bridge.model import RunStatus
from bridge.numbers import NumberError, quantity
from bridge.redact import redact, redact_optional

P = ParamSpec("P")
T = TypeVar("T")

SCHEMA_VERSION = 1

log = logging.getLogger("bridge.state")

# meta keys and the error entry of a rebuilt state file (see the module's docstring)
REBUILT_KEY = "rebuilt_at"
REBUILT_FROM_KEY = "rebuilt_from"
REBUILT_SUBJECT = "state:rebuilt"
# the files of one state: the database, its write-ahead log and its shared-memory index
SUFFIXES = ("", "-wal", "-shm")
# SQLite's WAL header: magic (the low bit says the checksums' byte order), format version
WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_VERSION = 3007000


class OrderState(StrEnum):
    QUEUED = "queued"  # waiting to be sent to the ERP
    SENDING = "sending"  # a send began; after a crash it is reconciled before any resend
    SENT_TO_ERP = "sent_to_erp"  # the ERP has it; the store has not been told yet
    DONE = "done"  # the ERP has it and the store was told
    FAILED = "failed"  # see failure_kind: transient (retried by itself) or data/auth/config
    DISCARDED = "discarded"  # the merchant decided it is not to be sent


# Orders whose units are sold in the store but not yet taken from the ERP's stock.
RESERVING_STATES = (OrderState.QUEUED, OrderState.SENDING, OrderState.FAILED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    store_order_id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('queued','sending','sent_to_erp','done','failed','discarded')),
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    confirmed_at TEXT,
    erp_reference TEXT,
    customer_code TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    failure_kind TEXT,
    error_code TEXT,
    last_error TEXT,
    server_message TEXT,
    reported_failed INTEGER NOT NULL DEFAULT 0,
    discard_reason TEXT,
    -- a version the store listed after this order was (or may have been) sent: not sent,
    -- the merchant is told; late_ack once they accepted that the ERP keeps what was sent
    late_hash TEXT,
    late_payload TEXT,
    late_ack INTEGER NOT NULL DEFAULT 0,
    -- taken in while the state file was being rebuilt: looked up in the ERP before any send
    reconcile INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS outbox_items (
    store_order_id TEXT NOT NULL REFERENCES outbox(store_order_id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_items_order ON outbox_items(store_order_id);
CREATE INDEX IF NOT EXISTS outbox_items_sku ON outbox_items(sku);
-- store id -> ERP id. One ERP document belongs to one store order; one ERP customer may be
-- several store identities (the same person buying with their DNI, then with their CUIT)
CREATE TABLE IF NOT EXISTS id_map (
    entity TEXT NOT NULL,
    store_id TEXT NOT NULL,
    erp_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (entity, store_id)
);
-- creations whose outcome is unknown (the ERP took the request but no answer came back):
-- until `since` + the settle window, a lookup that misses does not mean "create it again"
CREATE TABLE IF NOT EXISTS writes_in_doubt (
    entity TEXT NOT NULL,
    store_id TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (entity, store_id)
);
CREATE TABLE IF NOT EXISTS catalog_state (
    sku TEXT PRIMARY KEY,
    stock INTEGER NOT NULL,
    price TEXT NOT NULL,
    known INTEGER NOT NULL DEFAULT 1,
    pushed_at REAL NOT NULL,
    seen_run INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog_staging (
    sku TEXT PRIMARY KEY,
    stock INTEGER,
    price TEXT,
    prev_stock INTEGER,
    prev_price TEXT,
    vanished INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    pipeline TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    items_ok INTEGER NOT NULL DEFAULT 0,
    items_failed INTEGER NOT NULL DEFAULT 0,
    items_seen INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX IF NOT EXISTS runs_pipeline ON runs(pipeline, started_at);
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY,
    pipeline TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    server_message TEXT,
    first_at REAL NOT NULL,
    last_at REAL NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open','resolved','discarded')),
    resolution TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS errors_open ON errors(pipeline, subject) WHERE state = 'open';
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    level TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
"""


# a store order as the state file keeps it: decimals written as the numbers they are (a
# quantity of 5.0 must come back as a number, not as the text "5.0")
_PAYLOAD_ENCODER = msgspec.json.Encoder(decimal_format="number", enc_hook=str)


def dump_payload(payload: Mapping[str, Any]) -> str:
    try:
        return _PAYLOAD_ENCODER.encode(payload).decode()
    except (ValueError, TypeError, OverflowError):  # a non-finite decimal, say
        return json.dumps(payload, default=str)


def load_payload(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def order_number(payload: Mapping[str, Any], oid: str) -> str:
    """The store order's number as Bridge keeps and compares it (as the connectors send it:
    without surrounding spaces)."""
    return str(payload.get("number") or "").strip() or oid


def payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _reserved_items(payload: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (SKU, units) an order holds back from the store's stock. A line whose quantity
    is not a whole number within bridge.numbers' limits (10**30, 1e400, NaN, true) holds
    nothing: the order fails as a data error of its own when it is parsed."""
    out = []
    items = payload.get("items")
    for it in items if isinstance(items, list) else []:
        if isinstance(it, Mapping) and isinstance(it.get("sku"), str):
            qty = it.get("quantity")
            text = qty.strip() if isinstance(qty, str) else ""
            if text.isascii() and text.isdigit() and len(text) <= 12:
                qty = int(text)  # a number as text ("3") holds stock as it always did
            try:
                out.append((it["sku"], quantity(qty)))
            except NumberError:
                continue
    return out


@dataclass
class OutboxRow:
    store_order_id: str
    number: str
    state: OrderState
    payload: dict[str, Any]
    erp_reference: str | None
    attempts: int
    failure_kind: str | None
    last_error: str | None
    reported_failed: bool
    next_attempt_at: float | None
    # taken in while the state file was being rebuilt: the ERP may have it already
    reconcile: bool = False
    # a version the store listed after a send that did, or may have, reached the ERP, not
    # accepted by the merchant yet (the store is not told "sent" meanwhile)
    late_payload: dict[str, Any] | None = None
    # the stored copy of the order could not be read (a damaged state file)
    damaged: bool = False

    @property
    def late(self) -> bool:
        return self.late_payload is not None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> OutboxRow:
        damaged = False
        try:
            payload = load_payload(r["payload"])
            late = (
                load_payload(r["late_payload"]) if r["late_payload"] and not r["late_ack"] else None
            )
        except (ValueError, TypeError):
            payload, late, damaged = {"id": r["store_order_id"], "number": r["number"]}, None, True
        if not isinstance(payload, dict):
            payload, damaged = {"id": r["store_order_id"], "number": r["number"]}, True
        return cls(
            r["store_order_id"],
            r["number"],
            OrderState(r["state"]),
            payload,
            r["erp_reference"],
            r["attempts"],
            r["failure_kind"],
            r["last_error"],
            bool(r["reported_failed"]),
            r["next_attempt_at"],
            bool(r["reconcile"]),
            late if isinstance(late, dict) else None,
            damaged,
        )


# Orders inserted while a rebuilt state file is marked (meta `rebuilt_at`) are flagged in
# the same statement: no crash can leave one unflagged.
REBUILT_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS outbox_reconcile_rebuilt AFTER INSERT ON outbox
WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'rebuilt_at')
BEGIN
    UPDATE outbox SET reconcile = 1 WHERE store_order_id = NEW.store_order_id;
END
"""


class _Damaged(Exception):
    """The state file is damaged; the message says how (for the log and the error list)."""


def _sqlite_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of an error (0 when it has none)."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def _is_damage(exc: sqlite3.Error) -> bool:
    return _sqlite_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def storage_problem(path: Path, exc: sqlite3.Error) -> StorageError | None:
    """The StorageError (one line: what, where, what to do) for an SQLite error about the
    file or the disk, or None for any other error (a bug: it keeps its traceback)."""
    code = _sqlite_code(exc)
    if code == sqlite3.SQLITE_FULL:
        return StorageError(
            f"The disk is full: Bridge could not write its state file {path} "
            "(what it was recording was rolled back, nothing is lost). Free "
            "some space; Bridge goes on by itself."
        )
    if code in (
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_AUTH,
    ):
        return StorageError(
            f"The state file {path} cannot be written ({exc}): make it and "
            f"its folder writable for this user, or choose another folder "
            "with --data-dir or BRIDGE_DATA_DIR."
        )
    if code == sqlite3.SQLITE_IOERR:
        return StorageError(
            f"Bridge could not read or write its state file {path} ({exc}): check the disk."
        )
    if _is_damage(exc):
        return StorageError(
            f"The state file {path} is damaged ({exc}): restart Bridge; it "
            "moves the file aside and rebuilds it."
        )
    return None


def _quick_check(db: sqlite3.Connection) -> None:
    """Damage SQLite would only meet later, on the page it lies in (`PRAGMA quick_check`:
    tens of ms for a state file with 100k products)."""
    (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
    if check != "ok":
        raise _Damaged("quick_check: " + " ".join(str(check).split()))


def _wal_header_ok(header: bytes) -> bool:
    """A write-ahead log header SQLite accepts (magic, version, checksum). SQLite ignores a
    WAL whose header is not: the changes committed in it would silently be gone."""
    if len(header) < 32:
        return False
    magic, version = struct.unpack(">II", header[:8])
    if magic not in WAL_MAGIC or version != WAL_VERSION:
        return False
    words = ">II" if magic & 1 else "<II"
    s0 = s1 = 0
    for i in range(0, 24, 8):
        x0, x1 = struct.unpack(words, header[i : i + 8])
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return struct.unpack(">II", header[24:32]) == (s0, s1)


def file_damage(path: Path) -> str | None:
    """What is wrong with the state file that opening it with SQLite would not say (SQLite
    starts afresh on an empty file, and drops an invalid write-ahead log), or None."""
    wal = Path(f"{path}-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    if not path.exists():
        # the file was deleted but its log was not: what it held is gone all the same
        return "the file is missing but its write-ahead log is there" if wal_size else None
    if path.stat().st_size == 0:
        return "the file is empty"
    if wal_size:
        with open(wal, "rb") as fh:
            if not _wal_header_ok(fh.read(32)):
                return "its write-ahead log (-wal) is not valid"
    return None


def set_aside(path: Path) -> Path:
    """Move a damaged state file and its -wal and -shm aside, next to it, under one
    timestamped name (`state.sqlite3.corrupt-YYYYmmdd-HHMMSS`, `...-wal`, `...-shm`, so
    that SQLite opens the copy with its log). Returns the new name of the file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while any(Path(f"{aside}{s}").exists() for s in SUFFIXES):
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        for suffix in SUFFIXES:
            src = Path(f"{path}{suffix}")
            if src.exists():
                os.replace(src, f"{aside}{suffix}")
    except OSError as exc:
        raise StorageError(
            f"The state file {path} is damaged and could not be moved aside "
            f"({exc.strerror or exc}): move it and its -wal and -shm files "
            "out of the folder, then start Bridge again."
        ) from None
    return aside


class State:
    def __init__(self, path: Path, *, recover: bool = True) -> None:
        """Open the state file, or create it. A damaged one is moved aside and a new one is
        started, marked as rebuilt (`set_aside`, `rebuilt_note` say so); with
        `recover=False` (a look from outside, such as `bridge status`) it is a StorageError
        instead. A folder or file that cannot be written is a StorageError."""
        self.path = path
        # where a damaged state file was moved when this one opened, and the line saying so
        self.set_aside: Path | None = None
        self.rebuilt_note: str | None = None
        try:
            private_dir(path.parent)
        except OSError as exc:
            raise folder_problem(path.parent, exc) from None
        self._lock = threading.RLock()
        try:
            self._open()
        except _Damaged as damaged:
            if not recover:
                raise StorageError(
                    f"The state file {path} is damaged ({damaged}): start "
                    "Bridge (the app, `bridge run` or `bridge sync`) to move "
                    "it aside and rebuild it."
                ) from None
            self.set_aside = set_aside(path)
            self._open()
            try:
                self._mark_rebuilt(str(damaged))
            except sqlite3.Error as exc:
                self._db.close()
                raise storage_problem(path, exc) or exc from None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-db")
        # when each creation in doubt began in this process (monotonic), see doubt_age
        self._doubt_began: dict[tuple[str, str], float] = {}

    def _open(self) -> None:
        """Connect, check (`PRAGMA quick_check`) and bring the schema up to date. Raises
        _Damaged for a damaged file, StorageError for one that cannot be used."""
        try:
            problem = file_damage(self.path)
        except OSError as exc:
            raise folder_problem(self.path.parent, exc) from None
        if problem:
            raise _Damaged(problem)
        checked = self._check_read_only()
        try:
            self._db = sqlite3.connect(
                str(self.path), timeout=30, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise storage_problem(self.path, exc) or exc from None
        try:
            self._prepare(check=not checked)
        except sqlite3.Error as exc:
            self._db.close()
            if _is_damage(exc):
                raise _Damaged(str(exc)) from None
            raise storage_problem(self.path, exc) or exc from None
        except OSError as exc:  # making the files private
            self._db.close()
            raise folder_problem(self.path.parent, exc) from None
        except BaseException:
            self._db.close()
            raise

    def _check_read_only(self) -> bool:
        """`_quick_check` through a read-only connection: one that found damage must not,
        as it closes, copy the write-ahead log into the damaged file and delete it (the
        files are set aside as they were). False when no read-only connection could be had
        (then the check runs on the read-write one)."""
        if not self.path.exists():
            return True  # nothing to check
        try:
            db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error:
            return False
        try:
            _quick_check(db)
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise _Damaged(str(exc)) from None
            return False
        finally:
            db.close()
        return True

    def _prepare(self, check: bool) -> None:
        # buyers' CUITs, e-mails and addresses: the user's only (SQLite gives the -wal and
        # -shm files the database file's permissions)
        for suffix in SUFFIXES:
            private_file(Path(f"{self.path}{suffix}"))
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed outbox transition survives a power cut, not only a crash
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        if check:
            _quick_check(self._db)
        with self._lock:
            self._db.executescript(SCHEMA)
            self._migrate()
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

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
        self.set_kv(REBUILT_KEY, repr(now))
        self.set_kv(REBUILT_FROM_KEY, str(self.set_aside))
        self.open_error(
            "orders", REBUILT_SUBJECT, kind="data", code="state_rebuilt", message=message
        )
        self.add_events(
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

    def _migrate(self) -> None:
        """Changes made after a state file was first created."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(catalog_state)")}
        if "seen_run" not in cols:
            self._db.execute("ALTER TABLE catalog_state ADD COLUMN seen_run INTEGER")
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
        for col, decl in (
            ("late_hash", "TEXT"),
            ("late_payload", "TEXT"),
            ("late_ack", "INTEGER NOT NULL DEFAULT 0"),
            ("reconcile", "INTEGER NOT NULL DEFAULT 0"),
        ):
            if col not in cols:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {col} {decl}")
        (sql,) = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'id_map'").fetchone()
        if "UNIQUE" in sql.upper():
            # the first schema made every ERP id unique, customers too: rebuilt with the
            # uniqueness for orders only (below), in one transaction
            self._db.executescript("""
                BEGIN;
                CREATE TABLE id_map_new (entity TEXT NOT NULL, store_id TEXT NOT NULL,
                    erp_id TEXT NOT NULL, created_at REAL NOT NULL,
                    PRIMARY KEY (entity, store_id));
                INSERT INTO id_map_new SELECT entity, store_id, erp_id, created_at FROM id_map;
                DROP TABLE id_map;
                ALTER TABLE id_map_new RENAME TO id_map;
                COMMIT;""")
        self._db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS id_map_order_reference ON "
            "id_map(erp_id) WHERE entity = 'order'"
        )
        self._db.execute(REBUILT_TRIGGER)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._db.close()

    async def call(self, fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """`fn` on the state's thread. A failure of the file or the disk is a StorageError."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kw))
        except sqlite3.Error as exc:
            problem = storage_problem(self.path, exc)
            if problem is None:
                raise
            raise problem from exc

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Fire and forget, in order with `call` calls (events)."""
        with contextlib.suppress(RuntimeError):  # shut down
            self._executor.submit(fn, *args)

    def _tx(self, durable: bool = True) -> _Tx:
        """A write transaction. `durable=False` for what can be rebuilt (the catalog's
        record of what was pushed, the staging of a run): its commit skips the fsync, and a
        power cut may lose it (the next run then pushes those items again); a crash does not.
        """
        return _Tx(self, durable)

    def _q(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- key/values --------------------------------------------------------------------------
    def get_kv(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_kv(self, key: str, value: str | None) -> None:
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self._db.execute(
                    "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                    "SET value = excluded.value",
                    (key, value),
                )

    # -- a rebuilt state file -----------------------------------------------------------------
    def rebuilding(self) -> bool:
        return self.get_kv(REBUILT_KEY) is not None

    def finish_rebuild(self) -> str | None:
        """After the first complete listing of the store's pending orders into a rebuilt
        state file: every order the store still waits for was taken in (flagged), so the
        mark is lifted (orders taken in from now on are new ones) and the error entry says
        how many were checked. Returns that line, or None when nothing was being rebuilt."""
        if not self.rebuilding():
            return None
        with self._tx() as db:
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
        self.open_error(
            "orders", REBUILT_SUBJECT, kind="data", code="state_rebuilt", message=message
        )
        return message

    # -- outbox ------------------------------------------------------------------------------
    def ingest(self, payload: Mapping[str, Any], now: float | None = None) -> tuple[str, OutboxRow]:
        """Record an order the store lists as pending. Returns (action, row):
        'new' (queued now); 'requeued' (came back, changed or after being reported failed,
        after a failure that sent nothing, or discarded and changed); 'updated' (changed
        before any send: the new content and its items are taken); 'rereport' (done: the
        store missed our report); 'changed_after_send' (changed after it was, or may have
        been, sent: what was sent is frozen, the new version is kept aside for the
        merchant); or 'known' (nothing to do)."""
        now = now or time.time()
        oid = str(payload["id"])
        number = order_number(payload, oid)
        h = payload_hash(payload)
        text = dump_payload(payload)
        with self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            action = "known"
            if row is None:
                db.execute(
                    "INSERT INTO outbox (store_order_id, number, state, payload, payload_hash, "
                    "confirmed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        oid,
                        number,
                        OrderState.QUEUED,
                        text,
                        h,
                        str(payload.get("confirmed_at") or ""),
                        now,
                        now,
                    ),
                )
                action = "new"
            else:
                state = OrderState(row["state"])
                changed = row["payload_hash"] != h
                # a send may have reached the ERP: what it has is the stored payload
                maybe_sent = (
                    state in (OrderState.SENDING, OrderState.SENT_TO_ERP, OrderState.DONE)
                    or row["attempts"] > 0
                )
                refused = state == OrderState.FAILED and row["failure_kind"] != "transient"
                # an order held because the store listed it twice is taken again as soon
                # as it is listed once
                if (
                    refused
                    and (changed or row["reported_failed"] or row["error_code"] == "listed_twice")
                ) or (state == OrderState.DISCARDED and changed):
                    db.execute(
                        "UPDATE outbox SET state='queued', payload=?, payload_hash=?, number=?, "
                        "failure_kind=NULL, error_code=NULL, last_error=NULL, "
                        "server_message=NULL, reported_failed=0, next_attempt_at=NULL, "
                        "discard_reason=NULL, late_hash=NULL, late_payload=NULL, late_ack=0, "
                        "updated_at=? WHERE store_order_id=?",
                        (text, h, number, now, oid),
                    )
                    action = "requeued"
                elif not changed:
                    if row["late_hash"] is not None:
                        # the store is back to what was sent: its change is moot
                        db.execute(
                            "UPDATE outbox SET late_hash=NULL, late_payload=NULL, "
                            "late_ack=0, next_attempt_at=NULL, updated_at=? WHERE "
                            "store_order_id=?",
                            (now, oid),
                        )
                    action = "rereport" if state == OrderState.DONE else "known"
                elif maybe_sent:
                    if row["late_hash"] != h:
                        db.execute(
                            "UPDATE outbox SET late_hash=?, late_payload=?, late_ack=0, "
                            "updated_at=? WHERE store_order_id=?",
                            (h, text, now, oid),
                        )
                        action = "changed_after_send"
                    elif row["late_ack"] and state == OrderState.DONE:
                        action = "rereport"  # the merchant accepted what the ERP has
                elif state in (OrderState.QUEUED, OrderState.FAILED):
                    db.execute(
                        "UPDATE outbox SET payload=?, payload_hash=?, number=?, "
                        "updated_at=? WHERE store_order_id=?",
                        (text, h, number, now, oid),
                    )
                    action = "updated"
            if action in ("new", "requeued", "updated"):
                # the units held back from sale follow the items that will be sent
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in _reserved_items(payload)],
                )
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
        return action, OutboxRow.from_row(row)

    def listed_twice(
        self, copies: list[Mapping[str, Any]], message: str, now: float | None = None
    ) -> tuple[str, OutboxRow]:
        """The store listed one order id with different contents. An order not sent yet is
        held (a data failure) until the store lists it once; meanwhile the units of every
        copy are held back from sale (the most of each SKU). One that was, or may have
        been, sent is left as it is. Returns ('held' | 'frozen', row)."""
        now = now or time.time()
        first = copies[0]
        oid = str(first["id"])
        most: dict[str, int] = {}
        for copy in copies:
            for sku, q in _reserved_items(copy):
                most[sku] = max(most.get(sku, 0), q)
        with self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO outbox (store_order_id, number, state, payload, payload_hash, "
                    "confirmed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        oid,
                        order_number(first, oid),
                        OrderState.QUEUED,
                        dump_payload(first),
                        payload_hash(first),
                        str(first.get("confirmed_at") or ""),
                        now,
                        now,
                    ),
                )
                row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            state = OrderState(row["state"])
            action = "frozen"
            if state in (OrderState.QUEUED, OrderState.FAILED) and row["attempts"] == 0:
                # error_code listed_twice: the next listing of one copy is taken (ingest)
                db.execute(
                    "UPDATE outbox SET state='failed', "
                    "failure_kind='data', error_code='listed_twice', last_error=?, "
                    "next_attempt_at=NULL, updated_at=? WHERE store_order_id=?",
                    (message, now, oid),
                )
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in most.items()],
                )
                action = "held"
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
        return action, OutboxRow.from_row(row)

    def accept_late(self, oid: str) -> bool:
        """The merchant accepts that the ERP keeps what was sent of an order the store
        changed afterwards: the store is told it was sent (now)."""
        with self._tx() as db:
            return bool(
                db.execute(
                    "UPDATE outbox SET late_ack=1, next_attempt_at=NULL, "
                    "updated_at=? WHERE store_order_id=? AND late_hash IS NOT "
                    "NULL",
                    (time.time(), oid),
                ).rowcount
            )

    def adopt_late(self, oid: str) -> OutboxRow:
        """The ERP turned out not to have the order: the store's later version is the one
        to send (with its items held back from sale)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
            if row["late_payload"] and not row["late_ack"]:
                late = load_payload(row["late_payload"])
                db.execute(
                    "UPDATE outbox SET payload=late_payload, payload_hash=late_hash, "
                    "number=?, late_hash=NULL, late_payload=NULL, late_ack=0, "
                    "updated_at=? WHERE store_order_id=?",
                    (order_number(late, oid), time.time(), oid),
                )
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in _reserved_items(late)],
                )
            row = db.execute("SELECT * FROM outbox WHERE store_order_id = ?", (oid,)).fetchone()
        return OutboxRow.from_row(row)

    def order_number_taken(self, oid: str, number: str) -> str | None:
        """Another store order, listed before this one, with the same number (the ERPs know
        orders by their number), if any; discarded ones do not count."""
        rows = self._q(
            "SELECT o.store_order_id FROM outbox o, outbox me WHERE me.store_order_id = ? AND "
            "o.number = ? AND o.store_order_id != me.store_order_id AND "
            "o.state != 'discarded' AND (o.created_at < me.created_at OR "
            "(o.created_at = me.created_at AND o.store_order_id < me.store_order_id)) "
            "ORDER BY o.created_at LIMIT 1",
            (oid, number),
        )
        return str(rows[0]["store_order_id"]) if rows else None

    # -- wall-clock times that schedule work --------------------------------------------------
    def shift_wall_times(self, delta: float) -> None:
        """The computer's clock moved by `delta` s without time passing (set back, say):
        the waits recorded in wall time (retries, creations in doubt) move with it, so they
        last as long as they would have."""
        with self._tx() as db:
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
        with self._tx() as db:
            n = db.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ? "
                "AND state != 'done'",
                (now + longest_wait, now + longest_wait),
            ).rowcount
            n += db.execute(
                "UPDATE writes_in_doubt SET since = ? WHERE since > ?", (now, now)
            ).rowcount
        return n

    def open_error_message(self, pipeline: str, subject: str) -> str | None:
        rows = self._q(
            "SELECT message FROM errors WHERE pipeline=? AND subject=? AND state='open'",
            (pipeline, subject),
        )
        return str(rows[0]["message"]) if rows else None

    def due_orders(self, now: float | None = None, limit: int = 1000) -> list[OutboxRow]:
        """Orders with work to do now, oldest first: interrupted sends first (to reconcile),
        then orders the ERP has but the store was not told of, then queued and due retries."""
        now = now or time.time()
        rows = self._q(
            "SELECT * FROM outbox WHERE state = 'sending' OR "
            "(state IN ('queued','sent_to_erp') AND "
            " (next_attempt_at IS NULL OR next_attempt_at <= ?)) OR "
            "(state = 'failed' AND failure_kind IN ('transient','auth') AND next_attempt_at <= ?) "
            "ORDER BY CASE state WHEN 'sending' THEN 0 WHEN 'sent_to_erp' THEN 1 ELSE 2 END, "
            "confirmed_at, created_at LIMIT ?",
            (now, now, limit),
        )
        return [OutboxRow.from_row(r) for r in rows]

    def get_order(self, oid: str) -> OutboxRow | None:
        rows = self._q("SELECT * FROM outbox WHERE store_order_id = ?", (oid,))
        return OutboxRow.from_row(rows[0]) if rows else None

    def mark_sending(self, oid: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state='sending', attempts=attempts+1, updated_at=? "
                "WHERE store_order_id=?",
                (time.time(), oid),
            )

    def mark_sent_to_erp(self, oid: str, reference: str, customer_code: str | None) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state='sent_to_erp', erp_reference=?, customer_code=?, "
                "failure_kind=NULL, error_code=NULL, last_error=NULL, server_message=NULL,"
                " next_attempt_at=NULL, sent_at=?, updated_at=? WHERE store_order_id=?",
                (reference, customer_code, now, now, oid),
            )
            db.execute(
                "INSERT INTO id_map VALUES ('order', ?, ?, ?) ON CONFLICT(entity, store_id)"
                " DO UPDATE SET erp_id = excluded.erp_id",
                (oid, reference, now),
            )
            # an order write that was in doubt is settled
            db.execute("DELETE FROM writes_in_doubt WHERE entity='order' AND store_id=?", (oid,))

    def order_with_reference(self, reference: str) -> str | None:
        """The store order whose ERP document this is, if any."""
        rows = self._q(
            "SELECT store_id FROM id_map WHERE entity='order' AND erp_id=?", (reference,)
        )
        return str(rows[0]["store_id"]) if rows else None

    def mark_done(self, oid: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state='done', done_at=?, updated_at=?, "
                "failure_kind=NULL, last_error=NULL WHERE store_order_id=?",
                (now, now, oid),
            )

    def mark_failed(
        self,
        oid: str,
        *,
        kind: str,
        code: str,
        message: str,
        server_message: str | None,
        next_attempt_at: float | None,
        keep_state: bool = False,
    ) -> None:
        """Record a failure. With keep_state (a sent_to_erp order whose report to the store
        failed), the state stays and only the error and the next attempt are recorded."""
        # servers' texts may quote a token: masked before they are kept
        message, server_message = redact(message), redact_optional(server_message)
        with self._tx() as db:
            state_sql = "" if keep_state else "state='failed', "
            db.execute(
                f"UPDATE outbox SET {state_sql}failure_kind=?, error_code=?, last_error=?, "
                "server_message=?, next_attempt_at=?, updated_at=? WHERE store_order_id=?",
                (kind, code, message, server_message, next_attempt_at, time.time(), oid),
            )

    def mark_reported_failed(self, oid: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET reported_failed=1 WHERE store_order_id=?", (oid,))

    def requeue(self, oid: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE outbox SET state='queued', next_attempt_at=NULL, "
                "failure_kind=NULL, updated_at=? WHERE store_order_id=? AND "
                "state IN ('failed','discarded')",
                (time.time(), oid),
            )
            if cur.rowcount:
                row = db.execute(
                    "SELECT payload FROM outbox WHERE store_order_id=?", (oid,)
                ).fetchone()
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
                db.executemany(
                    "INSERT INTO outbox_items VALUES (?,?,?)",
                    [(oid, s, q) for s, q in _reserved_items(load_payload(row[0]))],
                )
            return bool(cur.rowcount)

    def discard_order(self, oid: str, reason: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE outbox SET state='discarded', discard_reason=?, "
                "next_attempt_at=NULL, updated_at=? WHERE store_order_id=? AND "
                "state IN ('queued','failed')",
                (reason, time.time(), oid),
            )
            if cur.rowcount:  # a sent order's items still count for recent ERP pages
                db.execute("DELETE FROM outbox_items WHERE store_order_id = ?", (oid,))
            return bool(cur.rowcount)

    def order_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in OrderState}
        for r in self._q("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"):
            counts[r["state"]] = r["n"]
        return counts

    def reserved(
        self, skus: Iterable[str] | None = None, sent_since: float | None = None
    ) -> dict[str, int]:
        """Units of each SKU sold in the store but not yet created in the ERP. With
        `sent_since`, orders created in the ERP since then count too: an ERP page read
        before they arrived does not show them yet (counting them twice errs on the side
        of showing less stock, never more)."""
        states = ",".join(f"'{s.value}'" for s in RESERVING_STATES)
        sql = (
            "SELECT i.sku, SUM(i.quantity) AS q FROM outbox_items i JOIN outbox o USING "
            f"(store_order_id) WHERE (o.state IN ({states})"
        )
        args: list[Any] = []
        if sent_since is not None:
            sql += " OR (o.state IN ('sent_to_erp','done') AND o.sent_at >= ?)"
            args.append(sent_since)
        sql += ")"
        wanted = list(skus) if skus is not None else None
        out: dict[str, int] = {}
        if wanted is None:
            rows = self._q(sql + " GROUP BY i.sku", args)
            return {r["sku"]: r["q"] for r in rows}
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            rows = self._q(
                sql + f" AND i.sku IN ({','.join('?' * len(chunk))}) GROUP BY i.sku",
                [*args, *chunk],
            )
            out.update({r["sku"]: r["q"] for r in rows})
        return out

    # -- id map ------------------------------------------------------------------------------
    def map_get(self, entity: str, store_id: str) -> str | None:
        rows = self._q(
            "SELECT erp_id FROM id_map WHERE entity=? AND store_id=?", (entity, store_id)
        )
        return rows[0]["erp_id"] if rows else None

    def map_put(self, entity: str, store_id: str, erp_id: str) -> None:
        """Map a store id to the ERP's; a creation in doubt for it is settled."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO id_map VALUES (?,?,?,?) ON CONFLICT(entity, store_id) "
                "DO UPDATE SET erp_id = excluded.erp_id",
                (entity, store_id, erp_id, time.time()),
            )
            db.execute(
                "DELETE FROM writes_in_doubt WHERE entity=? AND store_id=?", (entity, store_id)
            )

    # -- creations in doubt ------------------------------------------------------------------
    def doubt_get(self, entity: str, store_id: str) -> float | None:
        """When a creation of this entity began whose outcome is unknown, or None."""
        rows = self._q(
            "SELECT since FROM writes_in_doubt WHERE entity=? AND store_id=?", (entity, store_id)
        )
        return float(rows[0]["since"]) if rows else None

    def doubt_begin(self, entity: str, store_id: str) -> None:
        """Recorded before the creation is sent: a crash mid-request leaves it in doubt."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO writes_in_doubt VALUES (?,?,?) ON CONFLICT(entity, "
                "store_id) DO UPDATE SET since = excluded.since",
                (entity, store_id, time.time()),
            )
        self._doubt_began[(entity, store_id)] = time.monotonic()

    def doubt_age(self, entity: str, store_id: str) -> float | None:
        """How long ago a creation in doubt began (None: none is): on the monotonic clock
        when it began in this process (the computer's clock may be set meanwhile), else
        from the wall time recorded (a clock set back gives 0, not a negative age)."""
        since = self.doubt_get(entity, store_id)
        if since is None:
            self._doubt_began.pop((entity, store_id), None)
            return None
        began = self._doubt_began.get((entity, store_id))
        if began is not None:
            return time.monotonic() - began
        return max(0.0, time.time() - since)

    def doubt_clear(self, entity: str, store_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM writes_in_doubt WHERE entity=? AND store_id=?", (entity, store_id)
            )

    def map_count(self, entity: str) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM id_map WHERE entity=?", (entity,))[0]["n"])

    # -- catalog -----------------------------------------------------------------------------
    def pushed(
        self, skus: list[str], seen_run: int | None = None
    ) -> dict[str, tuple[int, str, bool, int | None]]:
        """The last values pushed for these SKUs (stock, price, known in the store, the run
        that last listed them). With `seen_run`, they are marked as listed by that run."""
        out: dict[str, tuple[int, str, bool, int | None]] = {}
        for i in range(0, len(skus), 900):
            chunk = skus[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for r in self._q(
                f"SELECT sku, stock, price, known, seen_run FROM catalog_state "
                f"WHERE sku IN ({marks})",
                chunk,
            ):
                out[r["sku"]] = (r["stock"], r["price"], bool(r["known"]), r["seen_run"])
            if seen_run is not None:
                with self._tx(durable=False) as db:
                    db.execute(
                        f"UPDATE catalog_state SET seen_run = ? WHERE sku IN ({marks})",
                        [seen_run, *chunk],
                    )
        return out

    def not_seen(self, run: int) -> list[tuple[str, int, str]]:
        """SKUs with stock in the store (as last pushed) that run `run` did not list."""
        rows = self._q(
            "SELECT sku, stock, price FROM catalog_state WHERE known = 1 AND "
            "stock != 0 AND COALESCE(seen_run, -1) != ? ORDER BY sku",
            (run,),
        )
        return [(r["sku"], r["stock"], r["price"]) for r in rows]

    def save_pushed(self, rows: list[tuple[str, int, str]], unknown: Iterable[str] = ()) -> None:
        now = time.time()
        missing = set(unknown)
        with self._tx(durable=False) as db:
            db.executemany(
                "INSERT INTO catalog_state (sku, stock, price, known, pushed_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT(sku) DO UPDATE SET "
                "stock=excluded.stock, price=excluded.price, known=excluded.known, "
                "pushed_at=excluded.pushed_at",
                [(s, st, p, 0 if s in missing else 1, now) for s, st, p in rows],
            )

    def forget_pushed(self, sku: str | None = None) -> None:
        with self._tx() as db:
            if sku is None:
                db.execute("DELETE FROM catalog_state")
            else:
                db.execute("DELETE FROM catalog_state WHERE sku = ?", (sku,))

    # -- staging: a catalog run's changes, checked before anything is pushed -----------------
    def staging_clear(self) -> None:
        with self._tx(durable=False) as db:
            db.execute("DELETE FROM catalog_staging")

    def staging_add(
        self, rows: list[tuple[str, int | None, str | None, int | None, str | None, int]]
    ) -> None:
        with self._tx(durable=False) as db:
            db.executemany("INSERT OR REPLACE INTO catalog_staging VALUES (?,?,?,?,?,?)", rows)

    def staging_stats(self, price_factor: float) -> dict[str, int]:
        r = self._q(
            "SELECT COUNT(*) AS changes, "
            "COALESCE(SUM(stock = 0 AND COALESCE(prev_stock, 0) > 0), 0) AS zeroed, "
            "COALESCE(SUM(vanished), 0) AS vanished, "
            "COALESCE(SUM(price IS NOT NULL AND price != '' AND prev_price IS NOT NULL "
            "AND prev_price != '' AND CAST(prev_price AS REAL) > 0 AND ("
            # a price of 0 is a collapse (a division by it would drop the row)
            "CAST(price AS REAL) <= 0 OR "
            "CAST(price AS REAL) / CAST(prev_price AS REAL) > ? OR "
            "CAST(prev_price AS REAL) / CAST(price AS REAL) > ?)), 0) AS price_jumps "
            "FROM catalog_staging",
            (price_factor, price_factor),
        )[0]
        return {k: int(r[k]) for k in ("changes", "zeroed", "vanished", "price_jumps")}

    # staged changes the guard counts: a stock going to 0, a price jumping by the factor
    # or falling to 0.00 or to nothing
    _COUNTED = (
        "(stock = 0 AND COALESCE(prev_stock, 0) > 0) OR "
        "(prev_price IS NOT NULL AND prev_price != '' AND CAST(prev_price AS REAL) > 0 "
        " AND (price IS NULL OR price = '' OR CAST(price AS REAL) <= 0 OR "
        "      CAST(price AS REAL) / CAST(prev_price AS REAL) > ? OR "
        "      CAST(prev_price AS REAL) / CAST(price AS REAL) > ?))"
    )

    def staging_examples(
        self, price_factor: float, limit: int
    ) -> list[tuple[str, int | None, int | None, str | None, str | None, bool]]:
        """Staged changes the guard counts, the biggest stock first: (sku, stock before,
        stock after, price before, price after, vanished)."""
        rows = self._q(
            "SELECT sku, prev_stock, stock, prev_price, price, vanished FROM catalog_staging "
            f"WHERE {self._COUNTED} ORDER BY COALESCE(prev_stock, 0) DESC, sku LIMIT ?",
            (price_factor, price_factor, limit),
        )
        return [
            (
                r["sku"],
                r["prev_stock"],
                r["stock"],
                r["prev_price"],
                r["price"],
                bool(r["vanished"]),
            )
            for r in rows
        ]

    def staging_counted(self, price_factor: float) -> list[str]:
        """The SKUs of every staged change the guard counts."""
        return [
            r["sku"]
            for r in self._q(
                f"SELECT sku FROM catalog_staging WHERE {self._COUNTED} ORDER BY sku",
                (price_factor, price_factor),
            )
        ]

    def staging_page(self, after: str, limit: int) -> list[tuple[str, int | None, str | None]]:
        rows = self._q(
            "SELECT sku, stock, price FROM catalog_staging WHERE sku > ? ORDER BY sku LIMIT ?",
            (after, limit),
        )
        return [(r["sku"], r["stock"], r["price"]) for r in rows]

    def catalog_counts(self) -> dict[str, int]:
        r = self._q(
            "SELECT COUNT(*) AS n, COALESCE(SUM(known = 0), 0) AS unknown FROM catalog_state"
        )[0]
        return {"skus": r["n"], "unknown_in_store": r["unknown"]}

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, pipeline: str, trigger: str) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (pipeline, trigger, started_at) VALUES (?,?,?)",
                (pipeline, trigger, time.time()),
            )
            return int(cur.lastrowid or 0)

    def finish_run(
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
        with self._tx() as db:
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

    def interrupt_runs(self, pipeline: str, message: str) -> None:
        """Runs of `pipeline` still open (stopped at their deadline) end as failed."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status='failed', finished_at=?, message=? WHERE "
                "pipeline=? AND status='running'",
                (time.time(), message, pipeline),
            )

    def close_stale_runs(self) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status='interrupted', finished_at=started_at "
                "WHERE status='running'"
            )

    def last_run(self, pipeline: str, status: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM runs WHERE pipeline=? AND status != 'running'"
        args: list[Any] = [pipeline]
        if status:
            sql += " AND status=?"
            args.append(status)
        rows = self._q(sql + " ORDER BY id DESC LIMIT 1", args)
        return dict(rows[0]) if rows else None

    def recent_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))]

    def orders_per_day(self, days: int = 14) -> list[tuple[str, int]]:
        """Orders created in the ERP per local day, oldest first (days with none included)."""
        since = time.time() - days * 86400
        rows = self._q(
            "SELECT date(sent_at, 'unixepoch', 'localtime') AS d, COUNT(*) AS n "
            "FROM outbox WHERE sent_at >= ? GROUP BY d",
            (since,),
        )
        got = {r["d"]: r["n"] for r in rows}
        out = []
        for i in range(days - 1, -1, -1):
            d = time.strftime("%Y-%m-%d", time.localtime(time.time() - i * 86400))
            out.append((d, got.get(d, 0)))
        return out

    # -- errors ------------------------------------------------------------------------------
    def open_error(
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
        with self._tx() as db:
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

    def resolve_errors(self, pipeline: str, subject: str, resolution: str = "succeeded") -> int:
        with self._tx() as db:
            return db.execute(
                "UPDATE errors SET state='resolved', resolution=? WHERE "
                "pipeline=? AND subject=? AND state='open'",
                (resolution, pipeline, subject),
            ).rowcount

    def resolve_errors_like(self, pipeline: str, prefix: str, keep: set[str]) -> None:
        """Resolve the open errors of a pipeline whose subject starts with `prefix`, except
        those in `keep` (the ones the last full pass saw again)."""
        rows = self._q(
            "SELECT id, subject FROM errors WHERE pipeline=? AND state='open' AND subject LIKE ?",
            (pipeline, prefix + "%"),
        )
        gone = [r["id"] for r in rows if r["subject"] not in keep]
        with self._tx() as db:
            db.executemany(
                "UPDATE errors SET state='resolved', resolution='gone' WHERE id=?",
                [(i,) for i in gone],
            )

    def errors(self, state: str = "open", limit: int = 500) -> list[dict[str, Any]]:
        """Errors, newest first; `number` is the store order number for order errors."""
        return [
            dict(r)
            for r in self._q(
                "SELECT e.*, o.number AS number FROM errors e LEFT JOIN outbox o ON "
                "e.subject = 'order:' || o.store_order_id WHERE e.state=? ORDER BY e.last_at DESC "
                "LIMIT ?",
                (state, limit),
            )
        ]

    def get_error(self, error_id: int) -> dict[str, Any] | None:
        rows = self._q("SELECT * FROM errors WHERE id=?", (error_id,))
        return dict(rows[0]) if rows else None

    def close_error(self, error_id: int, state: str, resolution: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE errors SET state=?, resolution=? WHERE id=? AND state='open'",
                (state, resolution, error_id),
            )

    def error_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._q("SELECT kind, COUNT(*) AS n FROM errors WHERE state='open' GROUP BY kind"):
            out[r["kind"]] = r["n"]
        return out

    # -- events ------------------------------------------------------------------------------
    def add_events(
        self, rows: list[tuple[float, str, str, str, str, dict[str, Any] | None]]
    ) -> None:
        """Many events in one transaction (one disk sync, not one per event)."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO events (ts, level, pipeline, code, message, data) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (ts, level, p, code, msg, json.dumps(d, default=str) if d else None)
                    for ts, level, p, code, msg, d in rows
                ],
            )

    def prune_events(self, keep: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (keep,))

    def events(self, after_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT * FROM (SELECT * FROM events WHERE id > ? ORDER BY id DESC "
            "LIMIT ?) ORDER BY id",
            (after_id, limit),
        )
        return [dict(r) for r in rows]


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT under the state's lock."""

    def __init__(self, state: State, durable: bool = True) -> None:
        self.state = state
        self.durable = durable

    def __enter__(self) -> sqlite3.Connection:
        self.state._lock.acquire()
        try:
            if not self.durable:
                self.state._db.execute("PRAGMA synchronous=NORMAL")
            self.state._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._restore()
            raise
        return self.state._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is not None:
                self._rollback()
                return
            try:
                self.state._db.execute("COMMIT")
            except sqlite3.Error:
                # a commit that failed (a full disk) must not leave the transaction open
                self._rollback()
                raise
        finally:
            self._restore()

    def _rollback(self) -> None:
        """Roll back what is still open (SQLite may have rolled it back itself after an
        error such as a full disk: the original error is the one that matters)."""
        if self.state._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.state._db.execute("ROLLBACK")

    def _restore(self) -> None:
        try:
            if not self.durable:
                self.state._db.execute("PRAGMA synchronous=FULL")
        finally:
            self.state._lock.release()
