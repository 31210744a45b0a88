"""Small key/values in the state file's `meta` table (cursors, the catalog's held run)."""

from __future__ import annotations

from bridge.state.db import Repository


class Kv(Repository):
    """The `meta` table."""

    def get(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.write("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.write(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                "SET value = excluded.value",
                (key, value),
            )
