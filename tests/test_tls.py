"""TLS per endpoint against a real HTTPS server on loopback: the default verification refuses
a self-signed certificate, `ca_file` trusts a private CA (and only it), `pin_sha256` accepts
the pinned self-signed certificate and refuses any other before a byte of the request (the
token) is written; the settings' validation; the certificate reader; `bridge doctor`'s
lines, `bridge sync`'s warning, and the settings dialog's fields.

Certificates come from trustme (a throwaway CA) and, for self-signed ones, from
`cryptography` (trustme's own dependency)."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge.config import StoreConfig, load_config, parse_config, save_config
from bridge.errors import ConfigError, TransientError
from bridge.http import (
    CertificatePinError,
    certificate_expiry,
    fetch_certificate,
    fingerprint,
    make_client,
    tls_context,
    tls_verify,
)
from connectors.store import paths as store_paths
from connectors.store.client import StoreClient
from tests.conftest import FAST, child_env, write_profile

BRIDGE = [sys.executable, "-m", "launcher"]
TOKEN = "tls-test-token-7d21"


# -- certificates ------------------------------------------------------------------------------
class ServerCert:
    """A server certificate with its key, as PEM files, and its DER form."""

    def __init__(self, cert_pem: bytes, key_pem: bytes, folder: Path, name: str) -> None:
        self.cert_file = folder / f"{name}.pem"
        self.key_file = folder / f"{name}.key"
        self.cert_file.write_bytes(cert_pem)
        self.key_file.write_bytes(key_pem)
        self.der = ssl.PEM_cert_to_DER_cert(cert_pem.decode())
        self.fingerprint = fingerprint(self.der)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def self_signed(
    folder: Path, name: str = "self", host: str = "127.0.0.1", days: int = 365
) -> ServerCert:
    """A self-signed certificate for `host`, like a LAN ERP's."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"erp-{name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return ServerCert(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        folder,
        name,
    )


def issued(ca: trustme.CA, folder: Path, name: str, **kw) -> ServerCert:
    leaf = ca.issue_cert("127.0.0.1", **kw)
    return ServerCert(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(), folder, name)


def ca_file(ca: trustme.CA, folder: Path, name: str = "ca") -> str:
    path = folder / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


# -- a tiny HTTPS server -------------------------------------------------------------------------
class LoopbackHttps:
    """HTTPS on 127.0.0.1: counts TCP connections, records every request head it reads (all
    the bytes a client sends after the handshake) and answers each with `{"data": []}`."""

    def __init__(self, cert: ServerCert) -> None:
        self.context = cert.server_context()
        self.connections = 0
        self.handshake_failures = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def __aenter__(self) -> LoopbackHttps:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await writer.start_tls(self.context)
        except (ssl.SSLError, OSError):
            self.handshake_failures += 1
            writer.close()
            return
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                body = json.dumps({"data": []}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass  # the client closed the connection
        finally:
            writer.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    folder = tmp_path / "certs"
    folder.mkdir()
    return folder


def store_client(url: str, **tls: object) -> StoreClient:
    return StoreClient(StoreConfig.model_validate({"url": url, **tls}), TOKEN, FAST)


async def get_products(url: str, **tls: object) -> object:
    client = store_client(url, **tls)
    try:
        return await client.call_json("GET", store_paths.PRODUCTS, params={"limit": 1})
    finally:
        await client.aclose()


# -- verification modes --------------------------------------------------------------------------
async def test_default_verification_refuses_a_self_signed_certificate(certs: Path) -> None:
    cert = self_signed(certs)
    async with LoopbackHttps(cert) as server:
        with pytest.raises(TransientError) as exc:
            await get_products(server.url)
    assert "CERTIFICATE_VERIFY_FAILED" in exc.value.message
    assert server.connections >= 1 and server.requests == []


async def test_ca_file_trusts_a_private_ca_and_only_it(certs: Path, ca: trustme.CA) -> None:
    cert = issued(ca, certs, "leaf")
    async with LoopbackHttps(cert) as server:
        # the private CA is not a public one: refused by default
        with pytest.raises(TransientError):
            await get_products(server.url)
        assert server.requests == []
        assert await get_products(server.url, ca_file=ca_file(ca, certs)) == {"data": []}
        [request] = server.requests
        assert f"Authorization: Bearer {TOKEN}".encode() in request
        # instead of the public CAs, not in addition: another CA's file does not do
        with pytest.raises(TransientError) as exc:
            await get_products(server.url, ca_file=ca_file(trustme.CA(), certs, "other"))
        assert "CERTIFICATE_VERIFY_FAILED" in exc.value.message
        assert len(server.requests) == 1


async def test_a_right_pin_accepts_a_self_signed_certificate(certs: Path) -> None:
    cert = self_signed(certs)
    pin = cert.fingerprint.replace(":", "").lower()  # any usual notation
    async with LoopbackHttps(cert) as server:
        assert await get_products(server.url, pin_sha256=pin) == {"data": []}
    [request] = server.requests
    assert f"Authorization: Bearer {TOKEN}".encode() in request


async def test_a_wrong_pin_is_refused_before_the_request_is_sent(certs: Path) -> None:
    cert, other = self_signed(certs, "server"), self_signed(certs, "expected")
    async with LoopbackHttps(cert) as server:
        with pytest.raises(ConfigError) as exc:
            await get_products(server.url, pin_sha256=other.fingerprint)
        # the server saw a connection, and not one byte of a request: no token reached it
        assert server.connections == 1  # a settings problem: not retried
        assert server.requests == []
    assert exc.value.code == "tls_pin_mismatch"
    assert other.fingerprint in exc.value.message and cert.fingerprint in exc.value.message
    assert "nothing was sent" in exc.value.message


async def test_a_pin_and_a_private_ca_must_both_hold(certs: Path, ca: trustme.CA) -> None:
    cert = issued(ca, certs, "leaf")
    async with LoopbackHttps(cert) as server:
        both = {"ca_file": ca_file(ca, certs), "pin_sha256": cert.fingerprint}
        assert await get_products(server.url, **both) == {"data": []}
        with pytest.raises(ConfigError):
            await get_products(server.url, **{**both, "pin_sha256": self_signed(certs).fingerprint})
        with pytest.raises(TransientError):
            await get_products(server.url, **{**both, "ca_file": ca_file(trustme.CA(), certs, "o")})
    assert len(server.requests) == 1


async def test_the_pin_holds_for_blocking_sockets_too(certs: Path) -> None:
    """The context's SSLSocket class checks the pin as its SSLObject class does."""
    cert = self_signed(certs)

    def connect(port: int, pin: str) -> str:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            tls_context(pin=pin).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version() or ""

    async with LoopbackHttps(cert) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        assert (await asyncio.to_thread(connect, port, cert.fingerprint)).startswith("TLS")
        with pytest.raises(CertificatePinError):
            await asyncio.to_thread(connect, port, self_signed(certs, "x").fingerprint)


def test_every_connector_gets_its_tls_settings_from_its_config(certs: Path) -> None:
    """tls_verify: True/False for the plain settings, a context for the others."""
    base = {"url": "https://erp.example/"}
    assert tls_verify(StoreConfig.model_validate(base)) is True
    assert tls_verify(StoreConfig.model_validate({**base, "verify_tls": False})) is False
    pinned = tls_verify(StoreConfig.model_validate({**base, "pin_sha256": "ab" * 32}))
    assert isinstance(pinned, ssl.SSLContext) and pinned.verify_mode == ssl.CERT_NONE
    client = make_client("https://erp.example/", timeout_s=5, verify=pinned)
    assert client.base_url.host == "erp.example"


# -- settings --------------------------------------------------------------------------------------
def config_with(store: dict[str, object]) -> dict[str, object]:
    return {
        "store": {"url": "https://tienda.example/", **store},
        "erp": {"kind": "dragonfish", "endpoint": "https://erp.example/api/", "cliente": "C1"},
    }


@pytest.mark.parametrize(
    "written",
    [
        "AB:CD:" * 15 + "AB:CD",
        ("abcd" * 16),
        "SHA256 Fingerprint=" + "ab:cd:" * 15 + "ab:cd",
        "sha256: " + " ".join(["ab", "cd"] * 16),
    ],
)
def test_a_pin_in_any_usual_notation_is_kept_in_one(written: str) -> None:
    config = parse_config(config_with({"pin_sha256": written}))
    assert config.store.pin_sha256 == "AB:CD:" * 15 + "AB:CD"


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("ab" * 20, "is a SHA-1 fingerprint (40 digits): use the SHA-256 one (64 digits)"),
        ("ab" * 31, "64 hexadecimal digits"),
        ("zz" * 32, "64 hexadecimal digits"),
        ("ab" * 33, "64 hexadecimal digits"),
    ],
)
def test_a_bad_pin_is_a_clear_config_error(written: str, said: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(config_with({"pin_sha256": written}))
    assert exc.value.message.startswith("store.pin_sha256: ") and said in exc.value.message


def test_ca_file_and_verify_tls_false_are_checked(tmp_path: Path, ca: trustme.CA) -> None:
    def problem(store: dict[str, object]) -> str:
        with pytest.raises(ConfigError) as exc:
            parse_config(config_with(store))
        return exc.value.message

    assert problem({"ca_file": "ca.pem"}).startswith(
        "store.ca_file: must be the full path of the CA's PEM file"
    )
    assert problem({"ca_file": str(tmp_path / "none.pem")}).startswith(
        "store.ca_file: no such file"
    )
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    assert "not a PEM certificate file" in problem({"ca_file": str(tmp_path / "key.pem")})
    assert problem({"verify_tls": False, "pin_sha256": "ab" * 32}).startswith(
        "store: verify_tls = false turns certificate checks off"
    )
    good = ca_file(ca, tmp_path)
    assert parse_config(config_with({"ca_file": good})).store.ca_file == good


# -- the certificate reader ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "not_after",
    [
        datetime.datetime(2031, 5, 6, 7, 8, 9),  # UTCTime
        datetime.datetime(2051, 1, 2, 3, 4, 5),  # GeneralizedTime (from 2050 on)
    ],
)
def test_certificate_expiry_matches_cryptography(
    ca: trustme.CA, certs: Path, not_after: datetime.datetime
) -> None:
    cert = issued(ca, certs, "leaf", not_after=not_after)
    parsed = x509.load_der_x509_certificate(cert.der)
    assert certificate_expiry(cert.der) == parsed.not_valid_after_utc.timestamp()
    assert fingerprint(cert.der) == parsed.fingerprint(hashes.SHA256()).hex(":").upper()
    with pytest.raises(ValueError):
        certificate_expiry(cert.der[:40])


async def test_fetch_certificate_sends_nothing(certs: Path, ca: trustme.CA) -> None:
    cert = self_signed(certs, days=90)
    async with LoopbackHttps(cert) as server:
        got = await fetch_certificate(server.url)
        assert got.fingerprint == cert.fingerprint
        assert got.expires is not None and 89 * 86400 < got.expires - time.time() < 91 * 86400
        # with a private CA the handshake is checked: this server's certificate is not its
        with pytest.raises(TransientError) as exc:
            await fetch_certificate(server.url, ca_file=ca_file(ca, certs))
        assert "CERTIFICATE_VERIFY_FAILED" in exc.value.message
    assert server.requests == []
    with pytest.raises(ConfigError):
        await fetch_certificate("http://127.0.0.1:9/")


# -- doctor, sync ------------------------------------------------------------------------------------
async def test_doctor_shows_the_mode_fingerprint_and_expiry(
    tmp_path: Path, certs: Path, erp_sim, capsys, monkeypatch
) -> None:
    from bridge.cli import cmd_doctor

    cert = self_signed(certs, days=400)
    monkeypatch.setenv("BRIDGE_SECRET_STORE_TOKEN", TOKEN)
    monkeypatch.setenv("BRIDGE_SECRET_ERP_TOKEN", erp_sim.token)
    async with LoopbackHttps(cert) as server:
        paths = write_profile(tmp_path, server.url, erp_sim.base_url, erp_sim.cliente)
        config = load_config(paths.config_file)
        config.store.pin_sha256 = cert.fingerprint
        assert await cmd_doctor(config, paths) == 0
        out = capsys.readouterr().out
        expires = time.strftime("%Y-%m-%d", time.gmtime(certificate_expiry(cert.der)))
        assert (
            f"OK   store TLS: pinned (SHA-256 {cert.fingerprint}); the server's "
            f"certificate SHA-256 {cert.fingerprint}" in out
        )
        assert f"OK   store certificate: expires on {expires}" in out
        assert f"OK   erp TLS: none: {erp_sim.base_url} is on this computer" in out
        # the pinned certificate is replaced: the doctor fails, naming both
        other = self_signed(certs, "renewed")
        config.store.pin_sha256 = other.fingerprint
        assert await cmd_doctor(config, paths) == 1
        out = capsys.readouterr().out
        assert (
            f"FAIL store TLS: pinned (SHA-256 {other.fingerprint}), but the server "
            f"presents a certificate whose SHA-256 is {cert.fingerprint}" in out
        )
        # a private CA: its mode, and the certificate's expiry (soon: a warning)
        ca = trustme.CA()
        soon = time.time() + 10 * 86400
        leaf = issued(
            ca,
            certs,
            "soon",
            not_after=datetime.datetime.fromtimestamp(soon, datetime.UTC).replace(tzinfo=None),
        )
    async with LoopbackHttps(leaf) as server:
        paths = write_profile(tmp_path, server.url, erp_sim.base_url, erp_sim.cliente)
        config = load_config(paths.config_file)
        config.store.ca_file = ca_file(ca, certs, "soon")
        assert await cmd_doctor(config, paths) == 0
        out = capsys.readouterr().out
        assert (
            f"OK   store TLS: private CA ({config.store.ca_file}); the server's "
            f"certificate SHA-256 {leaf.fingerprint}" in out
        )
        assert "WARN store certificate: expires on " in out and "(in 10 days)" in out


def test_sync_warns_when_certificates_are_not_verified(tmp_path: Path, sims) -> None:
    erp, store = sims
    paths = write_profile(tmp_path, store.base_url, erp.base_url, erp.cliente)
    env = child_env(paths, erp)
    run = subprocess.run(
        [*BRIDGE, "sync", "catalog"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert "NOT verified" not in run.stderr
    config = load_config(paths.config_file)
    config.store.verify_tls = False
    save_config(config, paths.config_file)
    run = subprocess.run(
        [*BRIDGE, "sync", "catalog"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert (
        "Warning: TLS certificates of the store are NOT verified (store.verify_tls = "
        "false)" in run.stderr
    )
    assert "ERP are NOT verified" not in run.stderr
    assert len(run.stdout.strip().splitlines()) == 1  # stdout stays the one summary line


# -- the settings dialog ---------------------------------------------------------------------------
pytest.importorskip("PySide6")

from tests.test_ui import qloop, run, ui_profile  # noqa: E402  (fixtures and helpers)

__all__ = ["qloop", "ui_profile"]  # fixtures used by name


def test_settings_edit_the_certificate_fields_and_get_the_fingerprint(
    qtbot, qloop, ui_profile, certs: Path
) -> None:
    from PySide6.QtCore import Qt

    from ui.i18n import set_language
    from ui.settings import SettingsDialog

    paths, secrets = ui_profile
    set_language("en")
    cert = self_signed(certs)

    async def body() -> None:
        async with LoopbackHttps(cert) as server:
            dialog = SettingsDialog(paths, secrets, load_config(paths.config_file))
            qtbot.addWidget(dialog)
            save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
            # a mistyped fingerprint is named in the dialog, and nothing is saved
            dialog.store_tls.pin.setText("ab" * 20)
            qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
            assert dialog.problem.text() == (
                "Certificate fingerprint (SHA-256) (Store): is a SHA-1 fingerprint (40 "
                "digits): use the SHA-256 one (64 digits)"
            )
            # the ERP here is plain http: no certificate to get
            assert await dialog.erp_tls.fetch() is None
            assert "is not an https:// address" in dialog.erp_tls.result.text()
            # "Get fingerprint" on the store's https server fills in what it presents
            dialog.store_url.setText(server.url)
            assert await dialog.store_tls.fetch() == cert.fingerprint
            assert dialog.store_tls.pin.text() == cert.fingerprint
            assert "Check the fingerprint" in dialog.store_tls.result.text()
            # ... and "Test connection" uses it: the self-signed server is accepted
            checks = await dialog.test_store()
            assert [c.ok for c in checks] == [True, True], checks
            qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
            saved = load_config(paths.config_file)
            assert saved.store.pin_sha256 == cert.fingerprint and saved.store.ca_file == ""
            # shown again when the dialog opens
            again = SettingsDialog(paths, secrets, saved)
            qtbot.addWidget(again)
            assert again.store_tls.pin.text() == cert.fingerprint

    run(qloop, body())
