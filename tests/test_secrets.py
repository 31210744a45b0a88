"""Secrets: a real Secret Service where the test command started one (gnome-keyring in a
private D-Bus session), refusal without a secure keyring, redaction everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from bridge import redact
from bridge.secrets import SecretStore, backend_info
from tests.conftest import REAL_KEYRING, needs_real_keyring

BRIDGE = [sys.executable, "-m", "launcher"]


@needs_real_keyring
def test_secrets_set_list_and_delete_with_the_real_keyring(tmp_path):
    """The OS keyring itself: the Secret Service on Linux, the Credential Manager on
    Windows (WinVault; Wine's under build/windows/ci.sh)."""
    value = f"tok-{uuid.uuid4().hex}"
    env = dict(os.environ, BRIDGE_DATA_DIR=str(tmp_path))
    r = subprocess.run(
        [*BRIDGE, "secrets", "set", "store.token"],
        input=value + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "keyring" in r.stdout and value not in r.stdout
    assert REAL_KEYRING in backend_info().name and backend_info().secure
    assert SecretStore().get("store.token") == value
    r = subprocess.run(
        [*BRIDGE, "secrets", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "store.token" in r.stdout and "set (keyring)" in r.stdout and value not in r.stdout
    SecretStore().delete("store.token")
    assert SecretStore().get("store.token") is None
    # `secrets delete --all` (what the uninstaller's "remove my data too" runs)
    for name in ("store.token", "erp.password"):
        r = subprocess.run(
            [*BRIDGE, "secrets", "set", name],
            input=value + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
    assert SecretStore().get("erp.password") == value
    r = subprocess.run(
        [*BRIDGE, "secrets", "delete"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "--all" in r.stderr
    r = subprocess.run(
        [*BRIDGE, "secrets", "delete", "--all"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert SecretStore().get("store.token") is None and SecretStore().get("erp.password") is None


def test_refuses_to_store_without_secure_keyring(tmp_path):
    env = dict(
        os.environ,
        BRIDGE_DATA_DIR=str(tmp_path),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    r = subprocess.run(
        [*BRIDGE, "secrets", "set", "erp.token"],
        input="abc123456\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "Refusing" in r.stderr and "plaintext" in r.stderr


def test_plaintext_backend_is_not_secure(monkeypatch):
    import keyring
    from keyring.backend import KeyringBackend

    class PlaintextKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service, username):
            return None

        def set_password(self, service, username, password):
            raise AssertionError("must never be called")

        def delete_password(self, service, username):
            pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    monkeypatch.setattr(keyring, "get_keyring", lambda: PlaintextKeyring())
    info = backend_info()
    assert not info.secure and "keyrings.alt" in info.detail
    store = SecretStore()
    assert store.set("erp.token", "kept-in-memory-1") == "session"
    assert store.get("erp.token") == "kept-in-memory-1"


def test_env_override_and_session(monkeypatch):
    s = SecretStore(use_keyring=False)
    monkeypatch.setenv("BRIDGE_SECRET_ERP_TOKEN", "from-env-999")
    assert s.get("erp.token") == "from-env-999" and s.source("erp.token") == "environment"
    s.set_session("store.token", "sess-777x")
    assert s.get("store.token") == "sess-777x" and s.source("store.token") == "session"


def test_redaction_of_registered_values_and_bearer_tokens():
    redact.register("sup3r-s3cret-value")
    text = (
        "failed with sup3r-s3cret-value; Authorization: Bearer abcdefghijklmnop; "
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJ1c3VhcmlvIjoiYSJ9.c2lnbmF0dXJl"
    )
    out = redact.redact(text)
    assert "sup3r" not in out and "abcdefghijklmnop" not in out and "eyJhbGci" not in out
    assert out.count("***") == 3


async def test_secrets_never_reach_state_log_or_events(engine, erp_sim, store_sim):
    from tests.conftest import STORE_TOKEN

    store_sim.add_order()
    store_sim.add_order(buyer__tax_id="27-1")
    erp_sim.faults.script("GET", "consultastockyprecios", 401)
    await engine.sync_now("all")
    await engine.sync_now("catalog")
    engine.state._db.execute("PRAGMA wal_checkpoint(FULL)")
    blobs = [engine.paths.config_file.read_bytes()]
    blobs += [p.read_bytes() for p in engine.paths.data_dir.rglob("*") if p.is_file()]
    for secret in (STORE_TOKEN, erp_sim.token):
        for blob in blobs:
            assert secret.encode() not in blob
