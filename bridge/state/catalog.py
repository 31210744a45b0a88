"""The catalog's record of what was pushed to the store, and the staging of a run's changes
(checked by the catastrophe guard before anything is pushed)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from bridge.state.db import Repository


class Pushed(Repository):
    """The `catalog_state` table: the last stock and price pushed per SKU."""

    def get(
        self, skus: list[str], seen_run: int | None = None
    ) -> dict[str, tuple[int, str, bool, int | None]]:
        """The last values pushed for these SKUs (stock, price, known in the store, the run
        that last listed them). With `seen_run`, they are marked as listed by that run."""
        out: dict[str, tuple[int, str, bool, int | None]] = {}
        for i in range(0, len(skus), 900):
            chunk = skus[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for r in self.db.query(
                f"SELECT sku, stock, price, known, seen_run FROM catalog_state "
                f"WHERE sku IN ({marks})",
                chunk,
            ):
                out[r["sku"]] = (r["stock"], r["price"], bool(r["known"]), r["seen_run"])
            if seen_run is not None:
                with self.db.tx(durable=False) as db:
                    db.execute(
                        f"UPDATE catalog_state SET seen_run = ? WHERE sku IN ({marks})",
                        [seen_run, *chunk],
                    )
        return out

    def not_seen(self, run: int) -> list[tuple[str, int, str]]:
        """SKUs with stock in the store (as last pushed) that run `run` did not list."""
        rows = self.db.query(
            "SELECT sku, stock, price FROM catalog_state WHERE known = 1 AND "
            "stock != 0 AND COALESCE(seen_run, -1) != ? ORDER BY sku",
            (run,),
        )
        return [(r["sku"], r["stock"], r["price"]) for r in rows]

    def save(self, rows: list[tuple[str, int, str]], unknown: Iterable[str] = ()) -> None:
        now = time.time()
        missing = set(unknown)
        with self.db.tx(durable=False) as db:
            db.executemany(
                "INSERT INTO catalog_state (sku, stock, price, known, pushed_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT(sku) DO UPDATE SET "
                "stock=excluded.stock, price=excluded.price, known=excluded.known, "
                "pushed_at=excluded.pushed_at",
                [(s, st, p, 0 if s in missing else 1, now) for s, st, p in rows],
            )

    def forget(self, sku: str | None = None) -> None:
        with self.db.tx() as db:
            if sku is None:
                db.execute("DELETE FROM catalog_state")
            else:
                db.execute("DELETE FROM catalog_state WHERE sku = ?", (sku,))

    def listing(self, sku: str | None = None) -> list[dict[str, Any]]:
        """Every product Bridge knows of, by SKU: what was pushed last (stock, price, when,
        whether the store knew it; None when it never was) and its open error's message
        (a row the ERP sent that could not be used, an update the store refused, a failed
        update of that one product), with its code and kind.
        One query over the pushed table and the open errors (the `errors_open` index);
        with `sku`, that product only."""
        rows = self.db.query(
            "SELECT c.sku, c.stock, c.price, c.known, c.pushed_at, e.message AS error, "
            "e.last_at AS error_at, e.code AS error_code, e.kind AS error_kind "
            "FROM catalog_state c "
            "LEFT JOIN errors e ON e.pipeline = 'catalog' AND e.state = 'open' "
            "AND e.subject = 'sku:' || c.sku WHERE :sku IS NULL OR c.sku = :sku "
            "UNION ALL "
            "SELECT substr(e.subject, 5), NULL, NULL, NULL, NULL, e.message, e.last_at, "
            "e.code, e.kind "
            "FROM errors e WHERE e.pipeline = 'catalog' AND e.state = 'open' "
            "AND e.subject LIKE 'sku:%' AND NOT EXISTS "
            "(SELECT 1 FROM catalog_state c WHERE c.sku = substr(e.subject, 5)) "
            "AND (:sku IS NULL OR e.subject = 'sku:' || :sku) ORDER BY 1",
            {"sku": sku},
        )
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, int]:
        r = self.db.query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(known = 0), 0) AS unknown FROM catalog_state"
        )[0]
        return {"skus": r["n"], "unknown_in_store": r["unknown"]}


class Staging(Repository):
    """The `catalog_staging` table: a catalog run's changes, checked before anything is pushed."""

    # staged changes the guard counts: a stock going to 0, a price jumping by the factor
    # or falling to 0.00 or to nothing
    _COUNTED = (
        "(stock = 0 AND COALESCE(prev_stock, 0) > 0) OR "
        "(prev_price IS NOT NULL AND prev_price != '' AND CAST(prev_price AS REAL) > 0 "
        " AND (price IS NULL OR price = '' OR CAST(price AS REAL) <= 0 OR "
        "      CAST(price AS REAL) / CAST(prev_price AS REAL) > ? OR "
        "      CAST(prev_price AS REAL) / CAST(price AS REAL) > ?))"
    )

    def clear(self) -> None:
        with self.db.tx(durable=False) as db:
            db.execute("DELETE FROM catalog_staging")

    def add(
        self, rows: list[tuple[str, int | None, str | None, int | None, str | None, int]]
    ) -> None:
        with self.db.tx(durable=False) as db:
            db.executemany("INSERT OR REPLACE INTO catalog_staging VALUES (?,?,?,?,?,?)", rows)

    def stats(self, price_factor: float) -> dict[str, int]:
        r = self.db.query(
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

    def examples(
        self, price_factor: float, limit: int
    ) -> list[tuple[str, int | None, int | None, str | None, str | None, bool]]:
        """Staged changes the guard counts, the biggest stock first: (sku, stock before,
        stock after, price before, price after, vanished)."""
        rows = self.db.query(
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

    def counted(self, price_factor: float) -> list[str]:
        """The SKUs of every staged change the guard counts."""
        return [
            r["sku"]
            for r in self.db.query(
                f"SELECT sku FROM catalog_staging WHERE {self._COUNTED} ORDER BY sku",
                (price_factor, price_factor),
            )
        ]

    def page(self, after: str, limit: int) -> list[tuple[str, int | None, str | None]]:
        rows = self.db.query(
            "SELECT sku, stock, price FROM catalog_staging WHERE sku > ? ORDER BY sku LIMIT ?",
            (after, limit),
        )
        return [(r["sku"], r["stock"], r["price"]) for r in rows]
