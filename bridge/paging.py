"""Paginated listings that always end.

Every listing Bridge reads page by page (an ERP's catalog, the store's pending orders and
products, a lookup) keeps a `PageGuard`, and trusts no single signal of the other side:
- a claimed total says how many pages to ask for, but never more than `max_pages` (+1, so
  that a listing that long is noticed rather than cut short);
- an empty or a short page is the last one, whatever the total said; a total far above
  what really came is logged as a warning;
- a page that brings no row the listing had not brought already, in whatever order (a
  server that ignores the page parameter or its cursor, shuffled or not, or serves a page
  twice, or overlapping pages) stops the listing with a ProtocolError: read on, it never
  ends or ends with rows missing, and a catalog run that fails pushes nothing (the engine
  stages the whole run before any push);
- a listing that claimed a total and brings far more rows or pages than that total makes
  (`GROWTH` times, and `SLACK_PAGES` pages more) stops with a ProtocolError: no catalog
  grows that much while it is read;
- a listing longer than `max_pages` pages stops with a ProtocolError.
Pages are told to the guard in their order, before their rows are used, each row by what
tells it apart from the others (an SKU, an id; a row without one: the row itself).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from bridge.errors import ProtocolError

# pages of one listing: 100,000 variants at the smallest page a server was seen to cap
# (50 rows) are 2,000 pages
MAX_PAGES = 20_000

# a claimed count of rows beyond any listing's (10**30, 1E+400) counts as this much: the
# pages themselves say where the listing ends
MAX_COUNT = 10**15

# a listing that claimed a total ends before it brought GROWTH times the rows (or pages)
# that total makes, and SLACK_PAGES pages more
GROWTH = 3
SLACK_PAGES = 10

log = logging.getLogger("bridge.paging")


def count(value: Any) -> int | None:
    """A count of rows from an answer (a listing's total): a whole number from 0, as a JSON
    number or as digits in text, at most MAX_COUNT; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            return None
        value = Decimal(text)  # not int(): Python refuses a text of more than 4300 digits
    if isinstance(value, int):
        return min(value, MAX_COUNT) if value >= 0 else None
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value >= 0
        and value == value.to_integral_value()
    ):
        return int(min(value, Decimal(MAX_COUNT)))  # compared first: int(1E+999999999) is slow
    return None


class PageGuard:
    """One listing as it is read. `side` and `what` name it in messages ("Dragonfish",
    "the catalog"); `setting` is where a merchant raises `max_pages`, if anywhere."""

    def __init__(
        self, side: str, what: str, *, max_pages: int = MAX_PAGES, setting: str = ""
    ) -> None:
        self.side = side
        self.what = what
        self.max_pages = max_pages
        self.setting = setting
        self.pages = 0
        self.rows = 0
        # every row's key so far, hashed: ~75 bytes a row (7 MiB over a 100,000-row
        # catalog) while the listing is read; keys themselves would pin their pages' memory
        self._keys: set[int] = set()
        self._pages: dict[int, object] = {}  # a page's keys (hashed, in any order) -> its label
        self._claimed: tuple[int, int] | None = None  # the first total claimed, its pages
        self._most = (0, 0)  # the rows and pages that total allows

    def planned(self, total: int, per_page: int) -> int:
        """How many pages a claimed total of rows makes, at most one past `max_pages`. The
        first total claimed bounds the listing (see GROWTH), whatever later pages claim."""
        per_page = max(1, per_page)
        pages = -(-total // per_page)
        if self._claimed is None:
            self._claimed = (total, pages)
            self._most = (GROWTH * total + SLACK_PAGES * per_page, GROWTH * pages + SLACK_PAGES)
        return max(1, min(pages, self.max_pages + 1))

    def page(self, label: object, keys: Iterable[object]) -> None:
        """Page `label` came with rows identified by `keys` (an SKU, an id). ProtocolError
        when the listing went past `max_pages`, when the page brought no row the listing
        had not brought already, or when the listing went far past the total it claimed."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise ProtocolError(
                f"{self.side} listed {self.what} past {self.max_pages:,} pages without an "
                f"end; the listing was stopped there"
                + (f" (if it is really that long, raise {self.setting})" if self.setting else ""),
                code="bad_response",
            )
        rows = tuple(keys)
        self.rows += len(rows)
        if rows:
            try:
                marks = frozenset(map(hash, rows))
            except TypeError:  # a row that is no SKU or id (a list, an object): as written
                marks = frozenset(map(_hash, rows))
            before = len(self._keys)
            self._keys.update(marks)
            mark = hash(marks)
            if len(self._keys) == before:
                earlier = self._pages.get(mark)
                raise ProtocolError(
                    f"{self.side} answered page {label} of {self.what} with "
                    + (
                        f"the same rows as page {earlier}"
                        if earlier is not None
                        else "only rows of its earlier pages"
                    )
                    + ": it ignores the page parameter or repeats pages, so the listing was "
                    f"stopped after {self.pages} pages ({self.rows} rows)",
                    code="bad_response",
                )
            self._pages[mark] = label
        if self._claimed is not None and (self.rows > self._most[0] or self.pages > self._most[1]):
            total, pages = self._claimed
            raise ProtocolError(
                f"{self.side} listed {self.what} far past the {total:,} rows ({pages:,} "
                f"pages) it claimed: {self.rows:,} rows in {self.pages:,} pages, so the "
                "listing was stopped there",
                code="bad_response",
            )

    @staticmethod
    def last(rows: int, per_page: int) -> bool:
        """An empty or short page ends the listing, whatever the total said."""
        return rows < per_page

    def finish(self, total: int | None, per_page: int) -> None:
        """The listing ended: a claimed total a page or more above what came is logged."""
        if total is not None and total - self.rows >= max(1, per_page):
            log.warning(
                "%s claimed %s rows for %s, but its pages ended after %s rows; the "
                "listing was read to its last page",
                self.side,
                f"{total:,}",
                self.what,
                f"{self.rows:,}",
            )


def _hash(key: object) -> int:
    """A row's key hashed, as written when it cannot be hashed itself (a list, a dict)."""
    try:
        return hash(key)
    except TypeError:
        return hash(repr(key))
