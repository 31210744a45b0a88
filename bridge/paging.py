"""Paginated listings that always end.

Every listing Bridge reads page by page (an ERP's catalog, the store's pending orders and
products, a lookup) keeps a `PageGuard`, and trusts no single signal of the other side:
- a claimed total says how many pages to ask for, but never more than `max_pages` (+1, so
  that a listing that long is noticed rather than cut short);
- an empty or a short page is the last one, whatever the total said; a total far above
  what really came is logged as a warning;
- a page whose rows are those of an earlier page (a server that ignores the page
  parameter or its cursor, or serves a page twice) stops the listing with a ProtocolError:
  read on, it never ends or ends with rows missing, and a catalog run that fails pushes
  nothing (the guard stages the whole run before any push);
- a listing longer than `max_pages` pages stops with a ProtocolError.
Pages are told to the guard in their order, before their rows are used.
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
    if isinstance(value, Decimal) and value.is_finite() and value >= 0 \
            and value == value.to_integral_value():
        return int(min(value, Decimal(MAX_COUNT)))  # compared first: int(1E+999999999) is slow
    return None


class PageGuard:
    """One listing as it is read. `side` and `what` name it in messages ("Dragonfish",
    "the catalog"); `setting` is where a merchant raises `max_pages`, if anywhere."""

    def __init__(self, side: str, what: str, *, max_pages: int = MAX_PAGES,
                 setting: str = "") -> None:
        self.side = side
        self.what = what
        self.max_pages = max_pages
        self.setting = setting
        self.pages = 0
        self.rows = 0
        self._seen: dict[int, object] = {}  # a page's rows (hashed) -> its label

    def planned(self, total: int, per_page: int) -> int:
        """How many pages a claimed total of rows makes, at most one past `max_pages`."""
        return max(1, min(-(-total // max(1, per_page)), self.max_pages + 1))

    def page(self, label: object, keys: Iterable[object]) -> None:
        """Page `label` came with rows identified by `keys` (in their order: an SKU, an
        id). ProtocolError when the listing went past `max_pages`, or when an earlier page
        had the very same rows."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise ProtocolError(
                f"{self.side} listed {self.what} past {self.max_pages:,} pages without an "
                f"end; the listing was stopped there"
                + (f" (if it is really that long, raise {self.setting})" if self.setting
                   else ""),
                code="bad_response")
        rows = tuple(keys)
        self.rows += len(rows)
        if not rows:
            return
        try:
            mark = hash(rows)
        except TypeError:  # a row that is no SKU or id (a list, an object): as written
            mark = hash(tuple(repr(k) for k in rows))
        earlier = self._seen.get(mark)
        if earlier is not None:
            raise ProtocolError(
                f"{self.side} answered page {label} of {self.what} with the same rows as "
                f"page {earlier}: it ignores the page parameter or repeats pages, so the "
                f"listing was stopped after {self.pages} pages ({self.rows} rows)",
                code="bad_response")
        self._seen[mark] = label

    @staticmethod
    def last(rows: int, per_page: int) -> bool:
        """An empty or short page ends the listing, whatever the total said."""
        return rows < per_page

    def finish(self, total: int | None, per_page: int) -> None:
        """The listing ended: a claimed total a page or more above what came is logged."""
        if total is not None and total - self.rows >= max(1, per_page):
            log.warning("%s claimed %s rows for %s, but its pages ended after %s rows; the "
                        "listing was read to its last page", self.side, f"{total:,}",
                        self.what, f"{self.rows:,}")
