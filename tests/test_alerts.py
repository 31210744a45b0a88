"""E-mail alerts against a real SMTP server on loopback (aiosmtpd), with STARTTLS and SSL
certificates from a throwaway CA (trustme)."""

from __future__ import annotations

import ssl
import time

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bridge.alerts import DIGEST_MIN_INTERVAL_S, send_mail
from bridge.config import AlertsConfig
from bridge.errors import ConfigError, TransientError

USER, PASSWORD = "alertas@empresa.com.ar", "smtp-pass-7788"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler API
        self.messages.append(envelope.content)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    # aiosmtpd 1.4 stalls on a failure without an explicit message
    return AuthResult(
        success=ok,
        handled=False,
        message=None if ok else "535 5.7.8 Authentication credentials invalid",
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


def server_context(ca) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def starttls_server(ca):
    inbox = Inbox()
    ctrl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(ca[0]),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    ctrl.start()
    yield ctrl, inbox
    ctrl.stop()


def alerts_config(port: int, ca_file: str, **kw) -> AlertsConfig:
    base = {
        "enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "security": "starttls",
        "username": USER,
        "sender": USER,
        "recipients": ["dueno@empresa.com.ar"],
        "after_minutes": 0,
        "ca_file": ca_file,
    }
    return AlertsConfig(**{**base, **kw})


def test_starttls_login_and_delivery(starttls_server, ca):
    ctrl, inbox = starttls_server
    send_mail(alerts_config(ctrl.port, ca[1]), PASSWORD, "Asunto", "Cuerpo del mensaje")
    assert len(inbox.messages) == 1 and b"Cuerpo del mensaje" in inbox.messages[0]


def test_wrong_password_is_a_clear_error(starttls_server, ca):
    ctrl, _inbox = starttls_server
    with pytest.raises(ConfigError) as exc:
        send_mail(alerts_config(ctrl.port, ca[1]), "wrong-pass-1", "s", "b")
    assert "check the SMTP user and password" in exc.value.message
    assert "wrong-pass-1" not in exc.value.message


def test_untrusted_certificate_is_refused(starttls_server):
    ctrl, inbox = starttls_server
    with pytest.raises(TransientError) as exc:
        send_mail(alerts_config(ctrl.port, ""), PASSWORD, "s", "b")
    assert "CERTIFICATE_VERIFY_FAILED" in exc.value.message or "SSL" in exc.value.message
    assert inbox.messages == []


def test_implicit_ssl(ca):
    inbox = Inbox()
    ctrl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=server_context(ca[0]),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    ctrl.start()
    try:
        send_mail(alerts_config(ctrl.port, ca[1], security="ssl"), PASSWORD, "s", "ssl body")
    finally:
        ctrl.stop()
    assert b"ssl body" in inbox.messages[0]


async def test_persistent_errors_go_out_as_one_throttled_digest(
    engine, erp_sim, store_sim, starttls_server, ca
):
    ctrl, inbox = starttls_server
    engine.alerter.config = alerts_config(ctrl.port, ca[1], after_minutes=10)
    engine.secrets.set_session("alerts.password", PASSWORD)
    o1 = store_sim.add_order(buyer__tax_id="20-1", buyer__tax_condition="monotributo")
    o2 = store_sim.add_order(items=[("NOEXISTE", 1)])
    await engine.sync_now("orders")
    # not persistent yet: open for less than 10 minutes
    assert await engine.alerter.check() == 0 and inbox.messages == []
    engine.state._db.execute("UPDATE errors SET first_at = first_at - 3600")
    assert await engine.alerter.check() == 2
    [mail] = inbox.messages
    text = mail.decode("utf-8", "replace")
    assert o1["number"] in text and o2["number"] in text and "2 problemas" in text
    assert PASSWORD not in text and erp_sim.token not in text
    # a new problem right after: it waits for the next digest
    store_sim.add_order(buyer__tax_id="20-2", buyer__tax_condition="monotributo")
    await engine.sync_now("orders")
    engine.state._db.execute("UPDATE errors SET first_at = first_at - 3600")
    assert await engine.alerter.check() == 0
    engine.state.kv.set("alerts_last_sent", str(time.time() - DIGEST_MIN_INTERVAL_S - 1))
    assert await engine.alerter.check() == 1  # only the new one
    assert len(inbox.messages) == 2


async def test_held_catalog_is_mailed_at_once(engine, erp_sim, store_sim, starttls_server, ca):
    ctrl, inbox = starttls_server
    engine.alerter.config = alerts_config(ctrl.port, ca[1], after_minutes=60)
    engine.secrets.set_session("alerts.password", PASSWORD)
    await engine.sync_now("catalog")
    erp_sim.faults.script("GET", "consultastockyprecios", 404)
    [held] = await engine.sync_now("catalog")
    assert held.status == "held"
    assert await engine.alerter.check() == 1
    assert b"held" in inbox.messages[0]
