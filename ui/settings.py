"""Settings: choose the ERP, then exactly that ERP's fields (from its connector), the store,
intervals, e-mail alerts, the language and starting with the session. Secrets go to the OS
keyring and are shown masked; "Test connection" for each side; validation before saving."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, QSize, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from bridge import autostart
from bridge.config import (
    CA_MISSING,
    CA_NOT_ABSOLUTE,
    CA_NOT_PEM,
    PIN_FORMAT,
    PIN_SHA1,
    TLS_CONFLICT,
    Config,
    ErpConfigBase,
    Paths,
    StoreConfig,
    parse_config,
    save_config,
)
from bridge.doctor import erp_checks, erp_url, store_checks
from bridge.errors import BridgeError, ConfigError
from bridge.fields import FieldSpec
from bridge.model import Check
from bridge.registry import erp_config_model, erp_entry, erp_kinds, erp_secrets
from bridge.secrets import SecretStore
from ui.i18n import LANGUAGES, _, language
from ui.texts import check_detail, check_name, keyring_text

MASK_HINT = "••••••••"

# pydantic's and our validators' messages, for translation
KNOWN_MESSAGES = (
    "must end with '/'",
    "must be a URL starting with http:// or https://",
    "Field required",
    "String should have at least 1 character",
    "unknown setting",
    "section missing",
    PIN_FORMAT,
    PIN_SHA1,
    CA_NOT_ABSOLUTE,
    CA_MISSING,
    CA_NOT_PEM,
    TLS_CONFLICT,
    # bridge.config's quiet hours (a file edited by hand)
    "is not a time of day such as 21:30",
    "quiet hours need both quiet_from and quiet_to",
)


# pydantic's own messages by their type, in plain words (those of our validators are above)
PYDANTIC_MESSAGES = {
    "missing": lambda: _("required"),
    "string_too_short": lambda: _("must not be empty"),
    "int_parsing": lambda: _("must be a whole number"),
    "float_parsing": lambda: _("must be a number"),
    "greater_than": lambda: _("is too small"),
    "greater_than_equal": lambda: _("is too small"),
    "less_than": lambda: _("is too large"),
    "less_than_equal": lambda: _("is too large"),
    "literal_error": lambda: _("is not one of the values this setting takes"),
    "bool_parsing": lambda: _("must be yes or no"),
    "extra_forbidden": lambda: _("unknown setting"),
}


def tls_label(name: str) -> str | None:
    """The label of a certificate setting of either side (`ca_file`, `pin_sha256`)."""
    if name == "ca_file":
        return _("Private CA (PEM file)")
    if name == "pin_sha256":
        return _("Certificate fingerprint (SHA-256)")
    return None


# what the engine says of a secret it cannot find (the CLI's way to set it)
SECRET_NOT_SET = re.compile(r"not set; run `bridge secrets set [\w.-]+`")


def translate_problem(message: str) -> str:
    if SECRET_NOT_SET.search(message):
        return SECRET_NOT_SET.sub(_("not set: type it here and save"), message)
    for known in KNOWN_MESSAGES:
        if known in message:
            message = message.replace(known, _(known))
    return message


# Plain names for fields a vendor names in its own jargon; the vendor's name stays as a hint
PLAIN_LABELS = {
    "endpoint": lambda: _("Server address"),
    "cliente": lambda: _("Company ID"),
    "base_de_datos": lambda: _("Database"),
    "lista": lambda: _("Price list"),
}
# how big the dialog opens the first time (then as the merchant left it), screen permitting
DEFAULT_SIZE = QSize(680, 760)


def ui_settings(paths: Paths) -> QSettings:
    """What the UI remembers on this profile (the language chosen, the settings window's
    size): an ini file in its data folder, next to its state."""
    return QSettings(str(paths.data_dir / "ui.ini"), QSettings.Format.IniFormat)


def field_label(spec: FieldSpec) -> str:
    plain = PLAIN_LABELS.get(spec.name)
    return plain() if plain else _(spec.label)


class NoWheelUnlessFocused(QObject):
    """The mouse wheel scrolls the form, not the number or choice under the pointer: a
    spin box or combo box takes the wheel only once clicked into (it changed an interval
    from 30 s to 12 s while the merchant scrolled)."""

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self.area = scroll

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, QAbstractSpinBox | QComboBox)
            and not watched.hasFocus()
        ):
            QApplication.sendEvent(self.area.viewport(), event)
            return True
        return False

    def watch(self, root: QWidget) -> None:
        for w in [*root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox)]:
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(self)


def with_error(widget: QWidget | QHBoxLayout, name: str) -> tuple[QWidget, QLabel]:
    """A field with its own error line under it (hidden until the field has a problem)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    if isinstance(widget, QWidget):
        layout.addWidget(widget)
    else:
        layout.addLayout(widget)
    error = QLabel()
    error.setObjectName(f"error_{name}")
    error.setWordWrap(True)
    error.setStyleSheet("color: #C62828")
    error.hide()
    layout.addWidget(error)
    return box, error


def pick_folder(parent: QWidget, title: str, field: QLineEdit) -> QFileDialog:
    """ "Browse…" for a folder: Qt's folder dialog, opened without blocking, that puts the
    chosen folder in `field`."""
    dialog = QFileDialog(parent, title, field.text())
    dialog.setObjectName("folderDialog")
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dialog.fileSelected.connect(field.setText)
    dialog.open()
    return dialog


class SecretField(QLineEdit):
    """A masked field that never shows a stored secret: empty means 'keep the stored one'."""

    def __init__(self, name: str, stored: bool) -> None:
        super().__init__()
        self.secret_name = name
        self.stored = stored
        self.setEchoMode(QLineEdit.EchoMode.Password)
        self.setPlaceholderText(
            _("{mask} (saved; type to replace)", mask=MASK_HINT) if stored else _("not set")
        )


class TlsFields(QWidget):
    """One side's certificate settings: a private CA file and a pinned fingerprint, with
    "Get fingerprint", which connects to the side's server and fills in the SHA-256 of the
    certificate it presents for the merchant to confirm."""

    def __init__(
        self, side: str, values: dict[str, Any], url: Callable[[], Awaitable[str]]
    ) -> None:
        super().__init__()
        self.url = url
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.ca_file = QLineEdit(str(values.get("ca_file", "") or ""))
        self.ca_file.setObjectName(f"{side}CaFile")
        self.ca_file.setPlaceholderText(_("(public certificate authorities)"))
        self.ca_file.setToolTip(
            _(
                "Only for a server whose certificate comes from your "
                "company's own certificate authority: that authority's "
                "certificate (PEM). Bridge then trusts only it for this "
                "server."
            )
        )
        browse = QPushButton(_("Browse…"))
        browse.setObjectName(f"{side}CaBrowse")
        browse.clicked.connect(self._browse)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(browse)
        self.pin = QLineEdit(str(values.get("pin_sha256", "") or ""))
        self.pin.setObjectName(f"{side}Pin")
        self.pin.setPlaceholderText("AB:CD:…")
        self.pin.setToolTip(
            _(
                "The SHA-256 fingerprint of the server's certificate. With it, "
                "Bridge talks only to the server that presents that exact "
                "certificate (a self-signed one too), and refuses any other "
                "before sending anything."
            )
        )
        self.fetch_btn = QPushButton(_("Get fingerprint"))
        self.fetch_btn.setObjectName(f"{side}FetchPin")
        self.fetch_btn.clicked.connect(lambda: self._spawn(self.fetch()))
        pin_row = QHBoxLayout()
        pin_row.addWidget(self.pin, 1)
        pin_row.addWidget(self.fetch_btn)
        self.result = QLabel()
        self.result.setObjectName(f"{side}PinResult")
        self.result.setWordWrap(True)
        self.result.hide()
        ca_box, ca_error = with_error(ca_row, f"{side}.ca_file")
        pin_box, pin_error = with_error(pin_row, f"{side}.pin_sha256")
        self.errors = {f"{side}.ca_file": ca_error, f"{side}.pin_sha256": pin_error}
        self.dialog: QFileDialog | None = None
        form.addRow(_("Private CA (PEM file)"), ca_box)
        form.addRow(_("Certificate fingerprint (SHA-256)"), pin_box)
        form.addRow(self.result)
        self._tasks: set[asyncio.Future[Any]] = set()

    def values(self) -> dict[str, str]:
        return {"ca_file": self.ca_file.text().strip(), "pin_sha256": self.pin.text().strip()}

    def _browse(self) -> None:
        dialog = QFileDialog(
            self,
            _("Certificate of the private CA"),
            self.ca_file.text(),
            _("Certificates (*.pem *.crt *.cer);;All files (*)"),
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.ca_file.setText)
        dialog.open()
        self.dialog = dialog

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fetch(self) -> str | None:
        """Connect, put the fingerprint of the server's certificate in the field, and say
        so. Returns the fingerprint (None when there is none to get)."""
        from bridge.http import fetch_certificate

        self.result.show()
        self.result.setText(_("Connecting…"))
        try:
            url = await self.url()
        except ConfigError as exc:
            self.result.setText(translate_problem(exc.message))
            return None
        if not url.startswith("https://"):
            self.result.setText(
                _(
                    "{url} is not an https:// address: there is no certificate to check.",
                    url=url or "?",
                )
            )
            return None
        try:
            cert = await fetch_certificate(url, ca_file=self.ca_file.text().strip())
        except BridgeError as exc:
            self.result.setText(
                _(
                    "Could not get the certificate: {error}",
                    error=check_detail(exc.code, (), exc.message),
                )
            )
            return None
        self.pin.setText(cert.fingerprint)
        expires = time.strftime("%d/%m/%Y", time.gmtime(cert.expires)) if cert.expires else "?"
        self.result.setText(
            _(
                "The server presents this certificate (valid until "
                "{expires}). Check the fingerprint with whoever manages the "
                "server before saving.",
                expires=expires,
            )
        )
        return cert.fingerprint


class ErpPage(QWidget):
    def __init__(self, kind: str, values: dict[str, Any], secrets: SecretStore) -> None:
        super().__init__()
        self.kind = kind
        self.entry = erp_entry(kind)
        self.widgets: dict[str, QLineEdit | QComboBox] = {}
        self.errors: dict[str, QLabel] = {}  # by setting (erp.<field>) or secret name
        self.folder_dialog: QFileDialog | None = None
        form = QFormLayout(self)
        for spec in self.entry.fields:
            w: QLineEdit | QComboBox
            if spec.kind == "choice":
                w = QComboBox()
                for value, text in spec.choices:
                    w.addItem(_(text), value)
                w.setCurrentIndex(max(0, w.findData(values.get(spec.name))))
            elif spec.kind == "secret":
                w = SecretField(spec.name, bool(secrets.get(spec.name)))
            else:
                value = values.get(spec.name, "")
                if isinstance(value, (list, tuple)):
                    value = ", ".join(str(v) for v in value)
                w = QLineEdit(str(value or ""))
                w.setPlaceholderText(spec.placeholder)
            w.setObjectName(f"erp_{spec.name}")
            hint = _(spec.help) if spec.help else ""
            if spec.name in PLAIN_LABELS:
                vendor = _('In {erp} this is "{name}".', erp=self.entry.title, name=spec.label)
                hint = f"{hint}\n{vendor}" if hint else vendor
            if hint:
                w.setToolTip(hint)
            label = field_label(spec) + (" *" if spec.required else "")
            key = spec.name if spec.kind == "secret" else f"erp.{spec.name}"
            field: QWidget | QHBoxLayout = w
            if spec.name == "path" and isinstance(w, QLineEdit):  # a folder: "Browse…"
                row = QHBoxLayout()
                row.addWidget(w, 1)
                browse = QPushButton(_("Browse…"))
                browse.setObjectName("erpBrowseFolder")
                browse.clicked.connect(lambda _c=False, w=w: self._browse_folder(w))
                row.addWidget(browse)
                field = row
            box, self.errors[key] = with_error(field, key)
            form.addRow(label, box)
            self.widgets[spec.name] = w

    def _browse_folder(self, field: QLineEdit) -> None:
        self.folder_dialog = pick_folder(self, _("The ERP's export folder"), field)

    @property
    def over_network(self) -> bool:
        """Whether this ERP is reached over the network (certificates apply): not the
        import folder, the one kind whose form asks for a folder."""
        return "path" not in self.widgets

    def values(self) -> dict[str, Any]:
        return {
            name: (w.currentData() if isinstance(w, QComboBox) else w.text().strip())
            for name, w in self.widgets.items()
            if not isinstance(w, SecretField)
        }

    def secrets(self) -> dict[str, str]:
        return {
            w.secret_name: w.text().strip()
            for w in self.widgets.values()
            if isinstance(w, SecretField) and w.text().strip()
        }

    def spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.entry.fields if f.name == name), None)


class SettingsDialog(QDialog):
    saved = Signal(object)  # Config

    def __init__(
        self,
        paths: Paths,
        secrets: SecretStore,
        config: Config | None,
        parent: QWidget | None = None,
        *,
        first_run: bool = False,
        autostart_backend: autostart.Autostart | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle(_("Bridge settings"))
        self.paths = paths
        self.secret_store = secrets
        self.config = config
        self.base = config.to_toml() if config else {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self.remembered = ui_settings(paths)
        self._discard_box: QMessageBox | None = None

        self.problem = QLabel()
        self.problem.setObjectName("settingsProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #C62828; font-weight: bold")
        self.problem.hide()

        # ERP
        erp_box = QGroupBox(_("ERP"))
        erp_layout = QVBoxLayout(erp_box)
        self.kind = QComboBox()
        self.kind.setObjectName("erpKind")
        self.pages = QStackedWidget()
        current = config.erp.kind if config else erp_kinds()[0]
        for kind in erp_kinds():
            values = self.base.get("erp", {}) if config and config.erp.kind == kind else {}
            self.kind.addItem(erp_entry(kind).title, kind)
            self.pages.addWidget(ErpPage(kind, values, secrets))
        self.kind.setCurrentIndex(max(0, self.kind.findData(current)))
        self.pages.setCurrentIndex(self.kind.currentIndex())
        row = QHBoxLayout()
        row.addWidget(QLabel(_("Your ERP:")))
        row.addWidget(self.kind, 1)
        erp_layout.addLayout(row)
        erp_layout.addWidget(self.pages)
        self.test_erp_btn = QPushButton(_("Test connection"))
        self.test_erp_btn.setObjectName("testErp")
        self.erp_result = QLabel()
        self.erp_result.setObjectName("erpResult")
        self.erp_result.setWordWrap(True)
        self.erp_result.setTextFormat(Qt.TextFormat.RichText)
        self.erp_insecure = QCheckBox(
            _(
                "Accept a self-signed certificate (do not verify "
                "TLS): only for an ERP on your own network"
            )
        )
        self.erp_insecure.setObjectName("erpInsecure")
        self.erp_insecure.setChecked(not self.base.get("erp", {}).get("verify_tls", True))
        self.erp_insecure.toggled.connect(self._tls_warning)
        self.tls_warning = QLabel(
            _(
                "⚠ Certificates are not verified: someone on the network "
                "could read or change what Bridge sends to the ERP."
            )
        )
        self.tls_warning.setWordWrap(True)
        self.tls_warning.setStyleSheet("color: #B26A00")
        self.tls_warning.setVisible(self.erp_insecure.isChecked())
        self.erp_tls = TlsFields("erp", self.base.get("erp", {}), self._erp_url)
        erp_layout.addWidget(self.erp_insecure)
        erp_layout.addWidget(self.tls_warning)
        erp_layout.addWidget(self.erp_tls)
        erp_layout.addWidget(self.test_erp_btn, 0, Qt.AlignmentFlag.AlignLeft)
        erp_layout.addWidget(self.erp_result)

        # store
        store_box = QGroupBox(_("Store (VentasxMayor)"))
        store_form = QFormLayout(store_box)
        self.store_url = QLineEdit(self.base.get("store", {}).get("url", ""))
        self.store_url.setObjectName("storeUrl")
        self.store_url.setPlaceholderText("https://tienda.ventasxmayor.com/")
        self.store_token = SecretField("store.token", bool(secrets.get("store.token")))
        self.store_token.setObjectName("storeToken")
        self.test_store_btn = QPushButton(_("Test connection"))
        self.test_store_btn.setObjectName("testStore")
        self.store_result = QLabel()
        self.store_result.setObjectName("storeResult")
        self.store_result.setWordWrap(True)
        self.store_result.setTextFormat(Qt.TextFormat.RichText)
        self.store_tls = TlsFields("store", self.base.get("store", {}), self._store_url)
        url_box, url_error = with_error(self.store_url, "store.url")
        token_box, token_error = with_error(self.store_token, "store.token")
        self.store_errors = {"store.url": url_error, "store.token": token_error}
        store_form.addRow(_("Store URL *"), url_box)
        store_form.addRow(_("API token *"), token_box)
        store_form.addRow(self.store_tls)
        store_form.addRow(self.test_store_btn, self.store_result)

        # sync
        sync = self.base.get("sync", {})
        sync_box = QGroupBox(_("Sync"))
        sync_form = QFormLayout(sync_box)
        self.orders_every = QSpinBox()
        self.orders_every.setObjectName("ordersInterval")
        self.orders_every.setRange(1, 3600)
        self.orders_every.setSuffix(" s")
        self.orders_every.setValue(int(sync.get("orders_interval_s", 5)))
        # stock and prices: in minutes, as people think of it (a value set in seconds in the
        # file is kept unless the merchant changes it here)
        self.catalog_s = float(sync.get("catalog_interval_s", 300))
        self.catalog_every = QSpinBox()
        self.catalog_every.setObjectName("catalogInterval")
        self.catalog_every.setRange(1, 1440)
        self.catalog_every.setSuffix(" min")
        self.catalog_every.setValue(max(1, round(self.catalog_s / 60)))
        self.orders_label = QLabel(_("Look for new orders every"))
        sync_form.addRow(self.orders_label, self.orders_every)
        sync_form.addRow(_("Update stock and prices every"), self.catalog_every)

        # alerts
        alerts = self.base.get("alerts", {})
        alerts_box = QGroupBox(_("E-mail alerts"))
        af = QFormLayout(alerts_box)
        self.alerts_on = QCheckBox(_("E-mail me when a problem persists"))
        self.alerts_on.setObjectName("alertsEnabled")
        self.alerts_on.setChecked(bool(alerts.get("enabled", False)))
        self.smtp_host = QLineEdit(alerts.get("smtp_host", ""))
        self.smtp_host.setObjectName("smtpHost")
        self.smtp_port = QSpinBox()
        self.smtp_port.setRange(1, 65535)
        self.smtp_port.setValue(int(alerts.get("smtp_port", 587)))
        self.smtp_security = QComboBox()
        for value, label in (
            ("starttls", "STARTTLS"),
            ("ssl", "SSL/TLS"),
            ("none", _("None (not recommended)")),
        ):
            self.smtp_security.addItem(label, value)
        self.smtp_security.setCurrentIndex(
            max(0, self.smtp_security.findData(alerts.get("security", "starttls")))
        )
        self.smtp_user = QLineEdit(alerts.get("username", ""))
        self.smtp_password = SecretField("alerts.password", bool(secrets.get("alerts.password")))
        self.smtp_sender = QLineEdit(alerts.get("sender", ""))
        self.smtp_to = QLineEdit(", ".join(alerts.get("recipients", [])))
        self.smtp_to.setObjectName("smtpRecipients")
        self.smtp_to.setPlaceholderText("compras@empresa.com.ar, dueño@empresa.com.ar")
        self.alerts_after = QSpinBox()
        self.alerts_after.setRange(0, 1440)
        self.alerts_after.setSuffix(" min")
        self.alerts_after.setValue(int(alerts.get("after_minutes", 15)))
        af.addRow(self.alerts_on)
        af.addRow(_("SMTP server"), self.smtp_host)
        af.addRow(_("Port"), self.smtp_port)
        af.addRow(_("Security"), self.smtp_security)
        af.addRow(_("User"), self.smtp_user)
        af.addRow(_("Password"), self.smtp_password)
        af.addRow(_("From"), self.smtp_sender)
        af.addRow(_("To (comma separated)"), self.smtp_to)
        af.addRow(_("When a problem lasts"), self.alerts_after)

        # language
        lang_box = QGroupBox(_("Language"))
        lf = QFormLayout(lang_box)
        self.language = QComboBox()
        self.language.setObjectName("language")
        for code, name in LANGUAGES.items():
            self.language.addItem(name, code)
        # the language in use (the demo's profile, made anew at each start, does not keep it)
        self.language.setCurrentIndex(max(0, self.language.findData(language())))
        lf.addRow(_("Language (the windows change when Bridge is opened again)"), self.language)

        # quiet hours: no tray notifications in that part of the day (local times; the
        # range may cross midnight, 21:00 to 08:00)
        ui = self.base.get("ui", {})
        quiet_box = QGroupBox(_("Notifications"))
        qf = QVBoxLayout(quiet_box)
        self.quiet_on = QCheckBox(_("Quiet hours: no notifications between"))
        self.quiet_on.setObjectName("quietHours")
        self.quiet_from = QTimeEdit()
        self.quiet_from.setObjectName("quietFrom")
        self.quiet_to = QTimeEdit()
        self.quiet_to.setObjectName("quietTo")
        for edit, value, default in (
            (self.quiet_from, ui.get("quiet_from", ""), "21:00"),
            (self.quiet_to, ui.get("quiet_to", ""), "08:00"),
        ):
            edit.setDisplayFormat("HH:mm")
            edit.setTime(QTime.fromString(value or default, "H:mm"))
        self.quiet_on.setChecked(bool(ui.get("quiet_from")))
        times = QHBoxLayout()
        times.addWidget(self.quiet_on)
        times.addWidget(self.quiet_from)
        times.addWidget(QLabel(_("and")))
        times.addWidget(self.quiet_to)
        times.addStretch(1)
        quiet_row, self.quiet_error = with_error(times, "ui.quiet_hours")
        qf.addWidget(quiet_row)
        note = QLabel(_("Problems still go to the error list and to the e-mail alerts."))
        note.setWordWrap(True)
        qf.addWidget(note)
        self.quiet_on.toggled.connect(self._quiet_toggled)
        self._quiet_toggled(self.quiet_on.isChecked())

        # start with the session (a setting of this PC, not of the config file)
        startup_box = QGroupBox(_("Start-up"))
        sf = QVBoxLayout(startup_box)
        self.autostart = autostart_backend or autostart.backend()
        self.autostart_on = QCheckBox(_("Start Bridge when I log in"))
        self.autostart_on.setObjectName("autostart")
        try:
            self.autostart_was = self.autostart.enabled()
        except Exception as exc:  # a broken registry or file: shown, not fatal
            self.autostart_was = False
            self.autostart_on.setEnabled(False)
            self.autostart_on.setToolTip(str(exc))
        self.autostart_on.setChecked(self.autostart_was)
        sf.addWidget(self.autostart_on)

        self.keyring_note = QLabel()
        self.keyring_note.setWordWrap(True)
        if not secrets.backend.secure:
            self.keyring_note.setText(
                _(
                    "This PC has no secure keyring ({detail}). Tokens will be kept only while "
                    "Bridge runs and must be entered again after a restart; they are never "
                    "written to disk in plain text.",
                    detail=keyring_text(secrets.backend.secure, secrets.backend.detail),
                )
            )

        body = QWidget()
        bl = QVBoxLayout(body)
        if first_run:
            intro = QLabel(
                _(
                    "Enter the data your ERP provider and VentasxMayor gave you. "
                    "Fields with * are required."
                )
            )
            intro.setWordWrap(True)
            bl.addWidget(intro)
        for w in (
            erp_box,
            store_box,
            sync_box,
            alerts_box,
            quiet_box,
            lang_box,
            startup_box,
            self.keyring_note,
        ):
            bl.addWidget(w)
        bl.addStretch(1)
        # the form scrolls; the buttons below it are always in view
        scroll = QScrollArea()
        scroll.setObjectName("settingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.form_scroll = scroll
        self.no_wheel = NoWheelUnlessFocused(scroll)
        self.no_wheel.watch(body)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText(_("Save"))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setObjectName("saveSettings")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(_("Cancel"))
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.problem)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.buttons)
        self.test_erp_btn.clicked.connect(lambda: self._spawn(self.test_erp()))
        self.test_store_btn.clicked.connect(lambda: self._spawn(self.test_store()))
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed(self.kind.currentIndex())
        self._fit_to_screen()

    # -- size, kind, closing ------------------------------------------------------------------
    def _fit_to_screen(self) -> None:
        """The size the merchant left it at (or the default), never larger than the
        screen's free area (a taskbar, 150 % scaling): the form scrolls instead."""
        saved = self.remembered.value("settings/size")
        want = saved if isinstance(saved, QSize) and saved.isValid() else DEFAULT_SIZE
        free = (self.parentWidget() or self).screen().availableGeometry()
        self.resize(
            max(360, min(want.width(), free.width() - 24)),
            max(280, min(want.height(), free.height() - 48)),
        )

    def _kind_changed(self, index: int) -> None:
        """Another ERP: its own fields only, and the last test's results (of the other ERP)
        cleared."""
        self.pages.setCurrentIndex(index)
        # the stack as tall as this ERP's fields (not the longest form of all)
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            page_i = self.pages.widget(i)
            if page_i is not None:
                page_i.setSizePolicy(policy, policy)
        self.pages.adjustSize()
        page = self.erp_page()
        self.show_field_problems([])  # those shown were of the other ERP's form
        self.erp_result.clear()
        self.erp_tls.result.clear()
        self.erp_tls.result.hide()
        for w in (self.erp_insecure, self.erp_tls):
            w.setVisible(page.over_network)
        self.tls_warning.setVisible(page.over_network and self.erp_insecure.isChecked())
        orders = page.entry.capabilities.orders
        self.orders_label.setVisible(orders)
        self.orders_every.setVisible(orders)

    def done(self, result: int) -> None:
        self.remembered.setValue("settings/size", self.size())
        self.remembered.sync()
        super().done(result)

    def reject(self) -> None:
        """Cancel (or Esc, or the window's close button) with a password or token typed and
        not saved asks first: it would be lost."""
        if not self.entered_secrets():
            super().reject()
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            _("Discard what you typed?"),
            _("You typed a password or token that is not saved. Close without saving it?"),
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("discardSecretsBox")
        discard = box.button(QMessageBox.StandardButton.Discard)
        discard.setText(_("Close without saving"))
        box.button(QMessageBox.StandardButton.Cancel).setText(_("Keep editing"))

        def finished(_result: int) -> None:
            clicked: QAbstractButton | None = box.clickedButton()
            self._discard_box = None
            if clicked is discard:
                QDialog.reject(self)

        box.finished.connect(finished)
        self._discard_box = box
        box.open()

    def _quiet_toggled(self, on: bool) -> None:
        self.quiet_from.setEnabled(on)
        self.quiet_to.setEnabled(on)

    def _tls_warning(self, on: bool) -> None:
        self.tls_warning.setVisible(on and self.erp_page().over_network)

    # -- form -> config ----------------------------------------------------------------------
    def erp_page(self) -> ErpPage:
        page = self.pages.currentWidget()
        assert isinstance(page, ErpPage)
        return page

    def form_data(self) -> dict[str, Any]:
        data = copy.deepcopy(self.base)
        page = self.erp_page()
        erp = data.get("erp", {}) if data.get("erp", {}).get("kind") == page.kind else {}
        erp.update({k: v for k, v in page.values().items()})
        erp["kind"] = page.kind
        erp["verify_tls"] = not self.erp_insecure.isChecked()
        erp.update(self.erp_tls.values())
        data["erp"] = erp
        store = data.setdefault("store", {})
        store["url"] = self.store_url.text().strip()
        store.update(self.store_tls.values())
        sync = data.setdefault("sync", {})
        sync["orders_interval_s"] = float(self.orders_every.value())
        minutes = self.catalog_every.value()
        unchanged = minutes == max(1, round(self.catalog_s / 60))
        sync["catalog_interval_s"] = self.catalog_s if unchanged else minutes * 60.0
        data["alerts"] = {
            **data.get("alerts", {}),
            "enabled": self.alerts_on.isChecked(),
            "smtp_host": self.smtp_host.text().strip(),
            "smtp_port": self.smtp_port.value(),
            "security": self.smtp_security.currentData(),
            "username": self.smtp_user.text().strip(),
            "sender": self.smtp_sender.text().strip(),
            "recipients": [
                a.strip() for a in self.smtp_to.text().replace(";", ",").split(",") if a.strip()
            ],
            "after_minutes": float(self.alerts_after.value()),
        }
        quiet = self.quiet_on.isChecked()
        data["ui"] = {
            **data.get("ui", {}),
            "language": self.language.currentData(),
            "quiet_from": self.quiet_from.time().toString("HH:mm") if quiet else "",
            "quiet_to": self.quiet_to.time().toString("HH:mm") if quiet else "",
        }
        return data

    def entered_secrets(self) -> dict[str, str]:
        out = self.erp_page().secrets()
        for field in (self.store_token, self.smtp_password):
            if field.text().strip():
                out[field.secret_name] = field.text().strip()
        return out

    def _secret(self, name: str) -> str | None:
        return self.entered_secrets().get(name) or self.secret_store.get(name)

    def validate(self) -> Config:
        config = parse_config(self.form_data(), self.paths.config_file)
        needed = ["store.token", *erp_secrets(config.erp)]
        if config.alerts.enabled and config.alerts.username:
            needed.append("alerts.password")
        for name in needed:
            if not self._secret(name):
                raise ConfigError(f"{name}: {_('required')}", code="secret_missing")
        return config

    def field_problems(self) -> list[tuple[str, str]]:
        """Every problem of the form at once, each as (setting or secret name, message):
        the store's and the ERP's fields, and the secrets they need."""
        from pydantic import BaseModel, ValidationError

        data = self.form_data()
        page = self.erp_page()
        problems: list[tuple[str, str]] = []
        erp: BaseModel | None = None
        models: tuple[tuple[str, type[BaseModel]], ...] = (
            ("store", StoreConfig),
            ("erp", erp_config_model(page.kind)),
        )
        for section, model in models:
            try:
                validated = model.model_validate(data[section])
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in (section, *err["loc"]) if p != "")
                    plain = PYDANTIC_MESSAGES.get(str(err["type"]))
                    message = plain() if plain else str(err["msg"]).removeprefix("Value error, ")
                    problems.append((where, message))
            else:
                if section == "erp":
                    erp = validated
        needed = ["store.token"]
        if isinstance(erp, ErpConfigBase):
            needed += erp_secrets(erp)
        else:  # the ERP's settings are not valid yet: the secrets its form requires
            needed += [f.name for f in page.entry.fields if f.kind == "secret" and f.required]
        if self.alerts_on.isChecked() and self.smtp_user.text().strip():
            needed.append("alerts.password")
        problems += [(name, _("required")) for name in needed if not self._secret(name)]
        if self.quiet_on.isChecked() and self.quiet_from.time() == self.quiet_to.time():
            problems.append(("ui.quiet_hours", _("the start and the end must differ")))
        return problems

    def _error_labels(self) -> dict[str, QLabel]:
        return {
            **self.erp_page().errors,
            **self.store_errors,
            **self.erp_tls.errors,
            **self.store_tls.errors,
            "ui.quiet_hours": self.quiet_error,
        }

    def show_field_problems(self, problems: list[tuple[str, str]]) -> None:
        """Each problem next to its field, and all of them listed at the top."""
        labels = self._error_labels()
        for label in labels.values():
            label.hide()
        for field, message in problems:
            if field in labels:
                labels[field].setText(translate_problem(message))
                labels[field].show()
        self.problem.setText(
            "\n".join(f"{self.field_name(f)}: {translate_problem(m)}" for f, m in problems)
        )
        self.problem.setVisible(bool(problems))
        first = next((labels[f] for f, _m in problems if f in labels), None)
        if first is not None:
            self.form_scroll.ensureWidgetVisible(first)

    def field_name(self, field: str) -> str:
        """A setting's (or secret's) name as the form shows it."""
        section, _dot, name = field.partition(".")
        page = self.erp_page()
        spec = page.spec(field) or page.spec(field.removeprefix("erp."))
        if section in ("store", "erp") and tls_label(name):
            return f"{tls_label(name)} ({_('Store') if section == 'store' else _('ERP')})"
        if spec is not None and field.startswith("erp."):
            return field_label(spec)
        return {
            "store.url": _("Store URL"),
            "store.token": _("API token"),
            "alerts.password": _("Password"),
            "ui.quiet_hours": _("Quiet hours"),
        }.get(field, field)

    def show_problem(self, message: str) -> None:
        """A problem found outside the form (the engine's, the config file's): at the top,
        and next to its field when it has one."""
        field, _sep, rest = message.partition(": ")
        if field in ("ui.quiet_from", "ui.quiet_to") or (field == "ui" and "quiet" in rest):
            field = "ui.quiet_hours"  # one field in the form: from and to
        if rest and field in self._error_labels():
            self.show_field_problems([(field, rest)])
            return
        label = self.field_name(field)
        self.problem.setText(f"{label}: {translate_problem(rest)}" if rest else message)
        self.problem.show()

    def save(self) -> None:
        problems = self.field_problems()
        if problems:
            self.show_field_problems(problems)
            return
        self.show_field_problems([])
        try:
            config = self.validate()
        except ConfigError as exc:
            self.show_problem(exc.message)
            return
        if not self.apply_autostart():
            return
        notes = []
        for name, value in self.entered_secrets().items():
            where = self.secret_store.set(name, value)
            if where != "keyring":
                notes.append(name)
        save_config(config, self.paths.config_file)
        self.problem.hide()
        self.config = config
        self.saved.emit(config)
        self.accept()

    def apply_autostart(self) -> bool:
        wanted = self.autostart_on.isChecked()
        if wanted == self.autostart_was:
            return True
        try:
            if wanted:
                self.autostart.enable(autostart.launch_command())
            else:
                self.autostart.disable()
        except OSError as exc:
            self.problem.setText(
                _(
                    "Could not change the start-up setting ({where}): {error}",
                    where=self.autostart.location(),
                    error=exc,
                )
            )
            self.problem.show()
            return False
        self.autostart_was = wanted
        return True

    # -- connection tests --------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _partial_config(self) -> Config:
        data = self.form_data()
        return parse_config(data)

    async def _store_url(self) -> str:
        return self.store_url.text().strip()

    async def _erp_url(self) -> str:
        """Where the ERP connector of the form's settings connects (its client's base URL;
        "" for an ERP not reached over the network)."""
        data = self.form_data()
        data["store"] = {"url": "http://store.invalid/"}  # the ERP alone
        # the certificate settings being filled in are not needed to know where it is
        data["erp"].update(verify_tls=True, ca_file="", pin_sha256="")
        return await erp_url(parse_config(data).erp)

    async def test_erp(self) -> list[Check]:
        self.erp_result.setText(_("Testing…"))
        try:
            config = self._partial_config()
        except ConfigError:
            # the store part may not be filled in yet: test the ERP alone
            data = self.form_data()
            data["store"] = {"url": "http://store.invalid/"}
            try:
                config = parse_config(data)
            except ConfigError as exc:
                # each setting's problem on its line ("erp.a: …; erp.b: …")
                parts = [p.partition(": ") for p in exc.message.split("; ")]
                self.erp_result.setText(
                    _show_checks(
                        [
                            Check(self.field_name(f), False, translate_problem(m) if s else f)
                            for f, s, m in parts
                        ]
                    )
                )
                return []
        needed = erp_secrets(config.erp)
        values = {n: self._secret(n) or "" for n in needed}
        missing = [n for n in needed if not values[n]]
        if missing:
            spec = self.erp_page().spec(missing[0])
            self.erp_result.setText(
                _show_checks([Check(spec.label if spec else missing[0], False, _("not set"))])
            )
            return []
        try:
            checks = await erp_checks(config.erp, values)
        except BridgeError as exc:
            checks = [Check(_("ERP"), False, exc.message)]
        self.erp_result.setText(_show_checks(checks))
        return checks

    async def test_store(self) -> list[Check]:
        self.store_result.setText(_("Testing…"))
        from pydantic import ValidationError

        values = {
            **self.base.get("store", {}),
            "url": self.store_url.text().strip(),
            **self.store_tls.values(),
        }
        try:
            store_cfg = StoreConfig.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else ""
            label = tls_label(field) or _("Store URL")
            message = str(err["msg"]).removeprefix("Value error, ")
            self.store_result.setText(
                _show_checks([Check(label, False, translate_problem(message))])
            )
            return []
        token = self._secret("store.token")
        if not token:
            self.store_result.setText(_show_checks([Check("store token", False, _("not set"))]))
            return []
        checks = await store_checks(store_cfg, token)
        self.store_result.setText(_show_checks(checks))
        return checks


def _show_checks(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        mark = (
            "<span style='color:#2E7D32'>✔</span>"
            if c.ok
            else "<span style='color:#E65100'>⚠</span>"
            if c.ok is None
            else "<span style='color:#C62828'>✘</span>"
        )
        detail = check_detail(c.code, c.params, c.detail) if c.code else c.detail
        lines.append(f"{mark} {_esc(check_name(c.name))}: {_esc(detail)}")
    return "<br>".join(lines)


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
