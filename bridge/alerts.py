"""E-mail alerts for persistent errors, throttled into digests.

An open error is "persistent" once it has stayed open `alerts.after_minutes` (a held catalog
run is urgent: it waits for no one). At most one e-mail per `DIGEST_MIN_INTERVAL_S`
carries every persistent error not e-mailed yet. SMTP with STARTTLS, SSL or (not
recommended) plain; the password is the keyring secret `alerts.password`. Certificates are
verified; `alerts.ca_file` adds a private CA (a company mail server).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any

from bridge import redact
from bridge.config import AlertsConfig
from bridge.errors import ConfigError, TransientError
from bridge.events import EventBus
from bridge.secrets import SecretStore
from bridge.state import State

DIGEST_MIN_INTERVAL_S = 30 * 60
URGENT_CODES = frozenset({"catalog_held", "auth_rejected"})


def build_digest(errors: list[dict[str, Any]], profile: str) -> tuple[str, str]:
    n = len(errors)
    subject = f"Bridge: {n} problema{'s' if n != 1 else ''} sin resolver"
    lines = [
        f"Bridge ({profile}) tiene {n} problema{'s' if n != 1 else ''} que necesita"
        f"{'n' if n != 1 else ''} atención:",
        "",
    ]
    for e in errors:
        since = time.strftime("%d/%m %H:%M", time.localtime(e["first_at"]))
        lines.append(f"- [{e['pipeline']}] {e['message']} (desde {since}, {e['count']} vez/veces)")
        if e.get("server_message"):
            lines.append(f"  Mensaje del servidor: {e['server_message']}")
    lines += [
        "",
        "Abrí Bridge (ícono en la bandeja) → Errores para reintentar o descartar.",
        "",
        "-- ",
        "Bridge: VentasxMayor <-> ERP",
    ]
    return subject, redact.redact("\n".join(lines))


def send_mail(
    config: AlertsConfig, password: str | None, subject: str, body: str, timeout: float = 30
) -> None:
    """Blocking SMTP send (run it in a thread)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.recipients)
    msg.set_content(body)
    context = ssl.create_default_context(cafile=config.ca_file or None)
    try:
        smtp: smtplib.SMTP
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                config.smtp_host, config.smtp_port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=context)
            if config.username:
                smtp.login(config.username, password or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise ConfigError(
            f"alerts: the mail server rejected user '{config.username}' "
            f"({exc.smtp_code}); check the SMTP user and password",
            code="smtp_auth",
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise TransientError(
            f"alerts: could not send e-mail via {config.smtp_host}:"
            f"{config.smtp_port} ({type(exc).__name__}: "
            f"{redact.redact(str(exc))[:200]})",
            code="smtp_failed",
        ) from None


class Alerter:
    def __init__(
        self,
        state: State,
        events: EventBus,
        secrets: SecretStore,
        config: AlertsConfig,
        profile: str = "",
    ) -> None:
        self.state = state
        self.events = events
        self.secrets = secrets
        self.config = config
        self.profile = profile

    def due(self, now: float | None = None) -> list[dict[str, Any]]:
        """Open errors to e-mail now (none while the last digest is recent)."""
        now = now or time.time()
        last = self.state.kv.get("alerts_last_sent")
        # a "last sent" in the future is a clock set back: it does not silence alerts
        if last and 0 <= now - float(last) < DIGEST_MIN_INTERVAL_S:
            return []
        sent = set(self._sent_ids())
        age = self.config.after_minutes * 60
        return [
            e
            for e in self.state.errors.recent("open", 200)
            if e["id"] not in sent and (now - e["first_at"] >= age or e["code"] in URGENT_CODES)
        ]

    def _sent_ids(self) -> list[int]:
        import json

        raw = self.state.kv.get("alerts_sent_ids")
        return json.loads(raw) if raw else []

    def _mark_sent(self, ids: list[int], now: float) -> None:
        import json

        open_ids = {e["id"] for e in self.state.errors.recent("open", 5000)}
        keep = [i for i in self._sent_ids() if i in open_ids] + ids
        self.state.kv.set("alerts_sent_ids", json.dumps(keep[-5000:]))
        self.state.kv.set("alerts_last_sent", str(now))

    async def check(self) -> int:
        """Send a digest if one is due. Returns how many errors it carried."""
        if not self.config.enabled:
            return 0
        errors = await self.state.call(self.due)
        if not errors:
            return 0
        subject, body = build_digest(errors, self.profile)
        password = self.secrets.get("alerts.password") if self.config.username else None
        try:
            await asyncio.to_thread(send_mail, self.config, password, subject, body)
        except (ConfigError, TransientError) as exc:
            self.events.error("engine", "alert_failed", exc.message)
            return 0
        await self.state.call(self._mark_sent, [e["id"] for e in errors], time.time())
        self.events.info(
            "engine",
            "alert_sent",
            f"E-mailed {len(errors)} unresolved problem(s) to {', '.join(self.config.recipients)}",
        )
        return len(errors)
