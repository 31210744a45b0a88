"""The state file: one SQLite connection (WAL), its schema and migrations, one worker thread
(`Db.call`), write transactions (`Db.tx`), and the recovery of a damaged file.

Failures of the file itself are StorageErrors (bridge.files) with one line for people: a
folder or file that cannot be written, a full disk (the write's transaction is rolled back,
so nothing that was recorded is lost). A damaged state file found when it opens (SQLite
cannot read it, `PRAGMA quick_check` fails, a write-ahead log SQLite would silently drop)
is moved aside next to it (`state.sqlite3.corrupt-YYYYmmdd-HHMMSS`, with its -wal and -shm)
and a new one is started (`bridge.state.State` marks it as rebuilt).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from bridge.files import StorageError, folder_problem, private_dir, private_file

P = ParamSpec("P")
T = TypeVar("T")

SCHEMA_VERSION = 1

# meta keys and the error entry of a rebuilt state file (see the module's docstring)
REBUILT_KEY = "rebuilt_at"
REBUILT_FROM_KEY = "rebuilt_from"
REBUILT_SUBJECT = "state:rebuilt"
# the order an event is about, as its index and its queries write it (the same expression);
# NULL for data SQLite cannot read as JSON (a NaN written by json.dumps), which must neither
# fail the event's write nor a query
EVENT_ORDER = "(CASE WHEN json_valid(data) THEN json_extract(data, '$.order') END)"
# the files of one state: the database, its write-ahead log and its shared-memory index
SUFFIXES = ("", "-wal", "-shm")
# SQLite's WAL header: magic (the low bit says the checksums' byte order), format version
WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_VERSION = 3007000

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
    -- rounds in a row in which a side that answers everything else failed on this order
    -- (the ERP on its send, the store on its report): past a few, the order's own problem
    down_streak INTEGER NOT NULL DEFAULT 0,
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


class Db:
    """The connection to the state file and the thread that uses it."""

    def __init__(self, path: Path, *, recover: bool = True) -> None:
        """Open the state file, or create it. A damaged one is moved aside and a new one is
        started (`set_aside` says where the damaged one went, `damage` what was wrong with
        it: `State` marks the new one as rebuilt); with `recover=False` (a look from
        outside, such as `bridge status`) it is a StorageError instead. A folder or file
        that cannot be written is a StorageError."""
        self.path = path
        # where a damaged state file was moved when this one opened, and what was wrong with it
        self.set_aside: Path | None = None
        self.damage: str | None = None
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
            self.damage = str(damaged)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-db")

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
        # LIKE ignores the case of ASCII letters only: searches for "muñoz" use fold()
        self._db.create_function("fold", 1, fold, deterministic=True)
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
            ("down_streak", "INTEGER NOT NULL DEFAULT 0"),
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
        # an order's timeline (its events) read without a scan of the whole log
        self._db.execute(f"CREATE INDEX IF NOT EXISTS events_order ON events({EVENT_ORDER})")

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

    def tx(self, durable: bool = True) -> _Tx:
        """A write transaction. `durable=False` for what can be rebuilt (the catalog's
        record of what was pushed, the staging of a run): its commit skips the fsync, and a
        power cut may lose it (the next run then pushes those items again); a crash does not.
        """
        return _Tx(self, durable)

    def query(self, sql: str, args: Iterable[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of one statement; `args` by position, or by name (a mapping)."""
        params = args if isinstance(args, Mapping) else tuple(args)
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def write(self, sql: str, args: Iterable[Any] = ()) -> None:
        """One statement outside any transaction (SQLite commits it by itself)."""
        with self._lock:
            self._db.execute(sql, tuple(args))


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT under the state's lock."""

    def __init__(self, state: Db, durable: bool = True) -> None:
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


def fold(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    """A text in one case whatever its letters (SQL `fold()`): "MUÑOZ" and "muñoz" meet."""
    return value.casefold() if isinstance(value, str) else value


def text_like(column: str, text: str) -> str:
    """`column` as a search compares it with `text`'s pattern (`like_pattern`): as it is
    while the text is ASCII (SQLite's LIKE ignores ASCII case, and is fast), folded else."""
    return column if text.isascii() else f"fold({column})"


def like_pattern(text: str) -> str:
    """The LIKE pattern that finds `text` anywhere, in any case (with `text_like`)."""
    return "%" + like_escape(text if text.isascii() else text.casefold()) + "%"


def like_escape(text: str) -> str:
    """`text` taken literally in a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Repository:
    """The statements about some tables, run on the state's connection (`Db.query`, `Db.tx`).
    Synchronous: the engine runs them on the state's thread (`Db.call`)."""

    def __init__(self, db: Db) -> None:
        self.db = db
