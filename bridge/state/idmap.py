"""Store id -> ERP id, and the creations whose outcome is unknown (in doubt)."""

from __future__ import annotations

import time

from bridge.state.db import Db, Repository


class IdMap(Repository):
    """The `id_map` and `writes_in_doubt` tables."""

    def __init__(self, db: Db) -> None:
        super().__init__(db)
        # when each creation in doubt began in this process (monotonic), see doubt_age
        self._doubt_began: dict[tuple[str, str], float] = {}

    def get(self, entity: str, store_id: str) -> str | None:
        rows = self.db.query(
            "SELECT erp_id FROM id_map WHERE entity=? AND store_id=?", (entity, store_id)
        )
        return rows[0]["erp_id"] if rows else None

    def put(self, entity: str, store_id: str, erp_id: str) -> None:
        """Map a store id to the ERP's; a creation in doubt for it is settled."""
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO id_map VALUES (?,?,?,?) ON CONFLICT(entity, store_id) "
                "DO UPDATE SET erp_id = excluded.erp_id",
                (entity, store_id, erp_id, time.time()),
            )
            db.execute(
                "DELETE FROM writes_in_doubt WHERE entity=? AND store_id=?", (entity, store_id)
            )

    def count(self, entity: str) -> int:
        return int(
            self.db.query("SELECT COUNT(*) AS n FROM id_map WHERE entity=?", (entity,))[0]["n"]
        )

    def order_with_reference(self, reference: str) -> str | None:
        """The store order whose ERP document this is, if any."""
        rows = self.db.query(
            "SELECT store_id FROM id_map WHERE entity='order' AND erp_id=?", (reference,)
        )
        return str(rows[0]["store_id"]) if rows else None

    def doubt_get(self, entity: str, store_id: str) -> float | None:
        """When a creation of this entity began whose outcome is unknown, or None."""
        rows = self.db.query(
            "SELECT since FROM writes_in_doubt WHERE entity=? AND store_id=?", (entity, store_id)
        )
        return float(rows[0]["since"]) if rows else None

    def doubt_begin(self, entity: str, store_id: str) -> None:
        """Recorded before the creation is sent: a crash mid-request leaves it in doubt."""
        with self.db.tx() as db:
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
        with self.db.tx() as db:
            db.execute(
                "DELETE FROM writes_in_doubt WHERE entity=? AND store_id=?", (entity, store_id)
            )
