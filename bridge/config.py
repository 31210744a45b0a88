"""Configuration: a TOML file in the user config dir, validated, with no secrets in it.

Where things live (platformdirs, overridable):
- config: `--config` > `BRIDGE_CONFIG` > `<data dir>/config.toml` when the data dir was
  given explicitly and has one (so a profile folder such as the demo is self-contained) >
  `<user config dir>/config.toml`
- state (SQLite), logs: `--data-dir` > `BRIDGE_DATA_DIR` > `<user data dir>`

The ERP section is validated by the model its connector registers (`erp.kind`), so each
connector owns its fields.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.errors import ConfigError

APP_NAME = "bridge"
APP_AUTHOR = "VentasxMayor"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_url(value: str, *, trailing_slash: bool = True) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be a URL starting with http:// or https://")
    if trailing_slash and not value.endswith("/"):
        raise ValueError("must end with '/'")
    if "@" in urlsplit(value).netloc:
        # a user name or password in the URL would sit in the config file, in doctor's
        # output and in the diagnostics zip, and go out as Basic auth
        raise ValueError(
            "must not contain a user name or password (user:password@): "
            "secrets go in the keyring (`bridge secrets set`)"
        )
    return value


_PIN_LABEL = re.compile(r"(?i)^\s*sha-?256(?:\s+fingerprint)?\s*[=:]\s*")
PIN_FORMAT = (
    "must be the certificate's SHA-256 fingerprint: 64 hexadecimal digits (0-9, "
    "A-F), with or without ':'"
)
PIN_SHA1 = "is a SHA-1 fingerprint (40 digits): use the SHA-256 one (64 digits)"
CA_NOT_ABSOLUTE = "must be the full path of the CA's PEM file"
CA_MISSING = "no such file"
CA_NOT_PEM = "not a PEM certificate file (no '-----BEGIN CERTIFICATE-----')"
TLS_CONFLICT = (
    "verify_tls = false turns certificate checks off, and ca_file and pin_sha256 "
    "are certificate checks: remove verify_tls = false"
)


def normalize_pin(value: str) -> str:
    """A SHA-256 certificate fingerprint in any usual notation (hex with or without ':',
    spaces or '-', any case, an optional 'SHA256 Fingerprint=' label) in the form
    `bridge.http.fingerprint` gives: upper-case hex pairs joined by ':'. ValueError naming
    what is wrong."""
    text = _PIN_LABEL.sub("", value.strip())
    digits = re.sub(r"[\s:-]", "", text)
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", digits):
        sha1 = re.fullmatch(r"[0-9A-Fa-f]{40}", digits)
        raise ValueError(PIN_SHA1 if sha1 else PIN_FORMAT)
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2)).upper()


def check_pin(value: str) -> str:
    """`pin_sha256`: empty, or a SHA-256 certificate fingerprint (normalized)."""
    return normalize_pin(value) if value.strip() else ""


def check_ca_file(value: str) -> str:
    """`ca_file`: empty, or the absolute path of a readable PEM file with a certificate."""
    value = value.strip()
    if not value:
        return ""
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{CA_NOT_ABSOLUTE}: {value}")
    if not path.is_file():
        raise ValueError(f"{CA_MISSING}: {path}")
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"{CA_NOT_PEM}: {path}")
    return str(path)


# a private CA to trust instead of the public ones; the pinned certificate's fingerprint
CaFile = Annotated[str, AfterValidator(check_ca_file)]
PinSha256 = Annotated[str, AfterValidator(check_pin)]


def check_tls(section: StoreConfig | ErpConfigBase) -> None:
    if not section.verify_tls and (section.ca_file or section.pin_sha256):
        raise ValueError(TLS_CONFLICT)


class StoreConfig(Section):
    url: str = Field(description="Base URL of the store API, e.g. https://tienda.example/")
    timeout_s: float = Field(30.0, gt=0, le=600)
    verify_tls: bool = True
    ca_file: CaFile = ""
    pin_sha256: PinSha256 = ""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v if v.endswith("/") else v + "/")

    @model_validator(mode="after")
    def _tls(self) -> StoreConfig:
        check_tls(self)
        return self


class SyncConfig(Section):
    orders_interval_s: float = Field(5.0, ge=1, le=3600)
    catalog_interval_s: float = Field(300.0, ge=10, le=86400)
    # a full catalog push (not only changes) at most this often; 0 = never by itself
    full_catalog_every_h: float = Field(24.0, ge=0, le=24 * 30)
    # orders sent to the ERP at once (a connector may lower it for its writes)
    order_concurrency: int = Field(4, ge=1, le=32)
    # a failed-but-retryable order waits retry_base_s * 2**n, capped at retry_max_s
    retry_base_s: float = Field(30.0, ge=1, le=3600)
    retry_max_s: float = Field(1800.0, ge=1, le=86400)
    # store catalog batches (the store accepts at most 500), and how many at once
    push_batch: int = Field(500, ge=1, le=500)
    push_concurrency: int = Field(4, ge=1, le=16)
    # report data failures (bad CUIT, unknown SKU) to the store as "failed"
    report_failures_to_store: bool = True
    # catastrophe guard: a catalog run that would set to 0 (or remove) more than this share
    # of the products, or change the price of more than guard_price_share of them by more
    # than guard_price_factor times, pushes nothing and waits for the merchant
    guard_zero_share: float = Field(0.2, gt=0, le=1)
    guard_price_factor: float = Field(3.0, gt=1, le=1000)
    guard_price_share: float = Field(0.05, gt=0, le=1)
    # catalogs smaller than this are not guarded (a handful of products moves a lot)
    guard_min_products: int = Field(20, ge=0)
    # an ERP price that rounds to 0.00 is not pushed (the store keeps its price) unless the
    # merchant allows free products here; either way the guard counts it as a collapse
    allow_zero_price: bool = False
    # incremental catalogs (ERPs that list "changed since"): ask from the start of the last
    # successful sync minus this much, so that changes made during a sync are not missed
    incremental_overlap_s: float = Field(300.0, ge=0, le=86400)
    # a customer creation the ERP never answered (timeout, dropped connection) may still
    # be done by the ERP: until this long after Bridge gave up on the reply, a lookup that
    # does not find the customer (or the order, where the ERP would take a second one)
    # makes the order wait instead of creating it a second time
    write_settle_s: float = Field(120.0, ge=0, le=86400)
    # a run (orders or catalog) that has not ended after this long is stopped and reported
    run_deadline_s: float = Field(1800.0, ge=1, le=86400)


class ErpConfigBase(Section):
    kind: str
    timeout_s: float = Field(30.0, gt=0, le=600)
    verify_tls: bool = True
    ca_file: CaFile = ""
    pin_sha256: PinSha256 = ""

    @model_validator(mode="after")
    def _tls(self) -> ErpConfigBase:
        check_tls(self)
        return self


class AlertsConfig(Section):
    """E-mail alerts for persistent errors. The SMTP password is the keyring secret
    `alerts.password`."""

    enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    sender: str = ""
    recipients: list[str] = Field(default_factory=list)
    # an error must stay open this long before it is e-mailed
    after_minutes: float = Field(15.0, ge=0, le=24 * 60)
    # a private CA to trust for the mail server's certificate (optional)
    ca_file: str = ""

    @field_validator("recipients")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for addr in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", addr):
                raise ValueError(f"'{addr}' is not an e-mail address")
        return v

    @model_validator(mode="after")
    def _complete(self) -> AlertsConfig:
        if self.enabled:
            if not self.smtp_host:
                raise ValueError("smtp_host is required when alerts are enabled")
            if not self.sender or not self.recipients:
                raise ValueError("sender and recipients are required when alerts are enabled")
        return self


class UiConfig(Section):
    language: Literal["es_AR", "en"] = "es_AR"
    # quiet hours: no tray notifications from quiet_from to quiet_to (local "HH:MM", may
    # cross midnight: "21:00" to "08:00"); both empty: none
    quiet_from: str = ""
    quiet_to: str = ""

    @field_validator("quiet_from", "quiet_to")
    @classmethod
    def _local_time(cls, v: str) -> str:
        v = v.strip()
        if v and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", v):
            raise ValueError(f"'{v}' is not a time of day such as 21:30")
        return v

    @model_validator(mode="after")
    def _both_or_none(self) -> UiConfig:
        if bool(self.quiet_from) != bool(self.quiet_to):
            raise ValueError("quiet hours need both quiet_from and quiet_to")
        return self


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    keep_events: int = Field(20000, ge=100, le=10_000_000)


@dataclass
class Config:
    store: StoreConfig
    erp: ErpConfigBase
    sync: SyncConfig
    logging: LoggingConfig
    alerts: AlertsConfig = field(default_factory=lambda: AlertsConfig())
    ui: UiConfig = field(default_factory=lambda: UiConfig())
    path: Path | None = None

    def to_toml(self) -> dict[str, Any]:
        return {
            "store": self.store.model_dump(),
            "erp": self.erp.model_dump(),
            "sync": self.sync.model_dump(),
            "alerts": self.alerts.model_dump(),
            "ui": self.ui.model_dump(),
            "logging": self.logging.model_dump(),
        }


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path

    @property
    def db_file(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"


def resolve_paths(
    config: str | os.PathLike[str] | None = None, data_dir: str | os.PathLike[str] | None = None
) -> Paths:
    explicit_data = data_dir or os.environ.get("BRIDGE_DATA_DIR")
    data = (
        Path(explicit_data)
        if explicit_data
        else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    )
    cfg = config or os.environ.get("BRIDGE_CONFIG")
    if cfg:
        cfg_path = Path(cfg)
    elif explicit_data and (data / "config.toml").exists():
        cfg_path = data / "config.toml"
    else:
        cfg_path = Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)) / "config.toml"
    return Paths(cfg_path.expanduser(), data.expanduser())


def _format_validation(prefix: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


SECRET_KEYS = ("token", "password", "secret", "client_secret")


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a config dict. Raises ConfigError naming the offending field."""
    from bridge.registry import erp_config_model  # the registry imports this module

    if not isinstance(data, dict):
        raise ConfigError("config: must be a table")
    unknown = set(data) - {"store", "erp", "sync", "logging", "alerts", "ui"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section", code="config_field")
    for section in ("store", "erp"):
        if section not in data:
            raise ConfigError(f"{section}: section missing", code="config_field")
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: must be a table", code="config_field")
        for key in values:
            if key.lower() in SECRET_KEYS:
                raise ConfigError(
                    f"{section}.{key}: secrets do not go in the config file; use "
                    f"`bridge secrets set {section}.{key}` (stored in the OS keyring)",
                    code="config_secret",
                )
    erp_raw = data["erp"]
    kind = erp_raw.get("kind")
    try:
        model = erp_config_model(kind)
    except KeyError as exc:
        raise ConfigError(f"erp.kind: {exc.args[0]}", code="config_field") from None
    try:
        store = StoreConfig.model_validate(data["store"])
    except ValidationError as exc:
        raise ConfigError(_format_validation("store", exc), code="config_field") from None
    try:
        erp = model.model_validate(erp_raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation("erp", exc), code="config_field") from None
    try:
        sync = SyncConfig.model_validate(data.get("sync", {}))
    except ValidationError as exc:
        raise ConfigError(_format_validation("sync", exc), code="config_field") from None
    sections: dict[str, Any] = {}
    optional: tuple[tuple[str, type[Section]], ...] = (
        ("logging", LoggingConfig),
        ("alerts", AlertsConfig),
        ("ui", UiConfig),
    )
    for name, section_model in optional:
        try:
            sections[name] = section_model.model_validate(data.get(name, {}))
        except ValidationError as exc:
            raise ConfigError(_format_validation(name, exc), code="config_field") from None
    logging_cfg, alerts, ui = sections["logging"], sections["alerts"], sections["ui"]
    return Config(
        store=store, erp=erp, sync=sync, logging=logging_cfg, alerts=alerts, ui=ui, path=path
    )


def load_config(path: Path) -> Config:
    if not path.exists():
        raise ConfigError(
            f"no config file at {path}; run `bridge demo` to try Bridge, or create it (see README)",
            code="config_missing",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc})", code="config_syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})", code="config_io") from None
    return parse_config(data, path)


def save_config(config: Config, path: Path) -> None:
    """Write atomically: a watcher never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(config.to_toml()), encoding="utf-8")
    os.replace(tmp, path)
