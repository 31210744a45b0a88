"""Import-folder connector: the ERP drops stock/price CSV files into a folder.

- watchdog notices new or changed files (debounced) and asks the engine for a catalog run;
  the engine's periodic catalog run is the rescan (file events get lost on network shares);
- a file modified in the last `settle_s` seconds may still be being written: it waits;
- one file per run, oldest first: rows are read in pages (bounded memory, any size),
  validated one by one (bad rows are reported with their line number; good rows applied);
- after the engine pushed it all, the file moves to the archive subfolder; a file with no
  usable row (no SKU column, not CSV) moves to the rejected subfolder.
Headers in Spanish or English, `;` or `,` separated, decimal comma or point, UTF-8 or
Windows-1252.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import logging
import os
import shutil
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from bridge.errors import ConfigError
from bridge.http import RetryPolicy
from bridge.model import Capabilities, CatalogItem, Check, RowProblem, StoreOrder, ValidBuyer
from bridge.numbers import catalog_item
from connectors.folder.config import DEFAULT_COLUMNS, FolderConfig
from connectors.kit import parse_text_number

log = logging.getLogger("bridge.folder")

DEBOUNCE_S = 1.0


def norm_header(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return "".join(c for c in plain if c.isalnum())


def detect_encoding(path: Path) -> str:
    """utf-8-sig (BOM), utf-8 when the whole file decodes as such, else cp1252."""
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 16):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


class CsvFile:
    """Reads one export file page by page (in a worker thread)."""

    def __init__(self, path: Path, config: FolderConfig) -> None:
        self.path = path
        self.config = config
        self.rows_ok = 0
        self.rows_bad = 0
        self.fatal: str | None = None

    def _columns(self, header: list[str]) -> dict[str, int]:
        index = {norm_header(h): i for i, h in enumerate(header)}
        found: dict[str, int] = {}
        for role, names in DEFAULT_COLUMNS.items():
            wanted = [self.config.columns[role]] if role in self.config.columns else names
            for name in wanted:
                if norm_header(name) in index:
                    found[role] = index[norm_header(name)]
                    break
        return found

    def pages(self) -> Iterator[list[CatalogItem | RowProblem]]:
        cfg = self.config
        name = self.path.name
        encoding = detect_encoding(self.path) if cfg.encoding == "auto" else cfg.encoding
        with self.path.open("r", encoding=encoding, newline="", errors="strict") as fh:
            first = fh.readline()
            if not first.strip():
                self.fatal = f"{name}: the file is empty"
                yield [RowProblem(name, self.fatal)]
                return
            delimiter = cfg.delimiter
            if delimiter == "auto":
                delimiter = max((";", ",", "\t", "|"), key=first.count)
            decimal_comma = cfg.decimal == "comma" or (cfg.decimal == "auto" and delimiter != ",")
            header = next(csv.reader([first], delimiter=delimiter))
            cols = self._columns(header)
            if "sku" not in cols or ("stock" not in cols and "price" not in cols):
                missing = "SKU" if "sku" not in cols else "stock or price"
                self.fatal = (
                    f"{name}: no {missing} column in the header "
                    f"({', '.join(h.strip() for h in header)[:200]}); accepted "
                    f"names: {', '.join(DEFAULT_COLUMNS['sku' if missing == 'SKU' else 'stock'])}"
                )
                yield [RowProblem(name, self.fatal)]
                return
            page: list[CatalogItem | RowProblem] = []
            reader = csv.reader(fh, delimiter=delimiter)
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                page.append(self._row(row, cols, line_no, decimal_comma))
                if len(page) >= cfg.page_size:
                    yield page
                    page = []
            if page:
                yield page

    def _row(
        self, row: list[str], cols: dict[str, int], line: int, decimal_comma: bool
    ) -> CatalogItem | RowProblem:
        where = f"{self.path.name}, line {line}"

        def cell(role: str) -> str | None:
            i = cols.get(role)
            if i is None:
                return None
            return row[i].strip() if i < len(row) else ""

        sku = cell("sku") or ""
        if not sku:
            self.rows_bad += 1
            return RowProblem(f"{self.path.name}:{line}", f"{where}: no SKU")
        stock_text, price_text = cell("stock"), cell("price")
        try:
            stock = parse_text_number(stock_text, decimal_comma) if stock_text else None
        except ValueError:
            self.rows_bad += 1
            return RowProblem(sku, f"{where}: stock '{stock_text}' is not a number")
        price: Decimal | None = None
        if price_text:
            try:
                price = parse_text_number(price_text, decimal_comma)
            except ValueError:
                self.rows_bad += 1
                return RowProblem(sku, f"{where}: price '{price_text}' is not a number")
            if price < 0:
                self.rows_bad += 1
                return RowProblem(sku, f"{where}: negative price {price_text}")
        if stock is None:
            self.rows_bad += 1
            return RowProblem(sku, f"{where}: no stock (this file has no price-only rows)")
        entry = catalog_item(
            sku, stock, price, stock_name=f"{where}: stock", price_name=f"{where}: price"
        )
        if isinstance(entry, RowProblem):
            self.rows_bad += 1
        else:
            self.rows_ok += 1
        return entry


class FolderSource:
    kind: ClassVar[str] = "folder"
    capabilities: ClassVar[Capabilities] = Capabilities(
        orders=False,
        customers=False,
        incremental_catalog=True,
        sku_lookup=False,
        no_orders_reason="An import folder carries only stock and prices: orders are not "
        "taken to the ERP",
    )

    def __init__(
        self, config: FolderConfig, secrets: Any = None, policy: RetryPolicy | None = None
    ) -> None:
        self.config = config
        self.folder = Path(config.path).expanduser()
        self.requests = 0
        self._current: tuple[Path, CsvFile] | None = None
        self._observer: Any = None
        self._on_change: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._debounce: asyncio.TimerHandle | None = None

    # -- files -------------------------------------------------------------------------------
    def pending(self, now: float | None = None) -> tuple[list[Path], list[Path]]:
        """(settled files oldest first, files still being written)."""
        now = now or time.time()
        if not self.folder.is_dir():
            raise ConfigError(
                f"erp.path: the folder {self.folder} does not exist or cannot be reached",
                code="folder_missing",
            )
        ready: list[tuple[float, Path]] = []
        busy: list[tuple[float, Path]] = []
        for p in self.folder.glob(self.config.pattern):
            if not p.is_file():
                continue
            try:
                mtime = p.stat().st_mtime
            except OSError:
                continue
            (busy if now - mtime < self.config.settle_s else ready).append((mtime, p))
        return [p for _m, p in sorted(ready)], [p for _m, p in sorted(busy)]

    async def catalog(
        self, since: float | None = None
    ) -> AsyncIterator[list[CatalogItem | RowProblem]]:
        ready, busy = await asyncio.to_thread(self.pending)
        if busy:
            log.info("waiting for %d file(s) still being written", len(busy))
            self._schedule_later(self.config.settle_s + 0.5)
        if not ready:
            return
        path = ready[0]
        reader = CsvFile(path, self.config)
        self._current = (path, reader)
        self.requests += 1
        pages = reader.pages()
        while True:
            page = await asyncio.to_thread(next, pages, None)
            if page is None:
                break
            yield page
        if len(ready) > 1:
            self._schedule_later(0.1)

    async def catalog_done(self, ok: bool) -> None:
        """The engine pushed (ok) or did not push the file read last: archive it, or leave it
        for the next run."""
        if self._current is None:
            return
        path, reader = self._current
        self._current = None
        if not ok:
            return
        target = (
            self.config.rejected_dir
            if (reader.fatal or reader.rows_ok == 0)
            else self.config.archive_dir
        )
        await asyncio.to_thread(self._move, path, self.folder / target)

    @staticmethod
    def _move(path: Path, dest_dir: Path) -> Path:
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / path.name
        if dest.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            dest = dest_dir / f"{path.stem}.{stamp}{path.suffix}"
        shutil.move(str(path), str(dest))
        return dest

    # -- watching ----------------------------------------------------------------------------
    def watch(self, on_change: Callable[[], None]) -> None:
        """Call `on_change` (on the event loop) when files appear or change, debounced."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self._loop = asyncio.get_running_loop()
        self._on_change = on_change
        source = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                path = os.fsdecode(getattr(event, "dest_path", "") or event.src_path)
                if Path(path).match(source.config.pattern) and source._loop is not None:
                    source._loop.call_soon_threadsafe(source._schedule_later, DEBOUNCE_S)

        if not self.folder.is_dir():
            return
        observer = Observer()
        observer.schedule(Handler(), str(self.folder), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def _schedule_later(self, delay: float) -> None:
        if self._loop is None or self._on_change is None:
            return
        if self._debounce is not None:
            self._debounce.cancel()
        self._debounce = self._loop.call_later(delay, self._on_change)

    async def aclose(self) -> None:
        if self._debounce is not None:
            self._debounce.cancel()
        if self._observer is not None:
            self._observer.stop()
            await asyncio.to_thread(self._observer.join, 5)
            self._observer = None

    # -- the rest of the interface ------------------------------------------------------------
    async def checks(self) -> list[Check]:
        try:
            ready, busy = await asyncio.to_thread(self.pending)
        except ConfigError as exc:
            return [Check("import folder", False, exc.message, code=exc.code)]
        writable = os.access(self.folder, os.W_OK)
        return [
            Check(
                "import folder",
                True,
                f"{self.folder}: {len(ready)} file(s) waiting, {len(busy)} being written",
            ),
            Check(
                "import folder writable",
                writable,
                "processed files can be archived"
                if writable
                else "Bridge cannot move processed files out of it",
            ),
        ]

    async def lookup_sku(self, sku: str) -> CatalogItem | RowProblem | None:
        return None

    async def _no_orders(self) -> Any:
        raise ConfigError(self.capabilities.no_orders_reason, code="no_orders")

    async def find_customer(self, buyer: ValidBuyer) -> str | None:
        return await self._no_orders()

    async def create_customer(self, buyer: ValidBuyer) -> str:
        return await self._no_orders()

    async def find_order(self, order: StoreOrder) -> str | None:
        return await self._no_orders()

    async def create_order(self, order: StoreOrder, customer_code: str, buyer: ValidBuyer) -> str:
        return await self._no_orders()
