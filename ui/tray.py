"""The tray icon: one state at a time (bridge.status.Overall, by its priority), its cause in
the tooltip and as the menu's first line, the last successful sync and pending/failed
counts, and the menu."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from bridge.status import Status
from ui.daily import ChoiceMenu, mute_choices, pause_choices, until_text
from ui.i18n import _
from ui.icons import tray_icon
from ui.texts import ago, cause_text, state_name


class Tray(QObject):
    syncRequested = Signal()
    pauseToggled = Signal()
    openWindow = Signal()
    openLog = Signal()
    openErrors = Signal()
    openSettings = Signal()
    openAbout = Signal()
    pauseChosen = Signal(object)  # the end of a pause (wall time), or None: until resumed
    muteChosen = Signal(object)  # the end of a mute (wall time)
    unmuteRequested = Signal()
    quitRequested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.state = "stopped"  # never a green check before the engine says so
        self.erp_title = ""  # the ERP's name, for the cause ("Dragonfish rejects…")
        self.icon = QSystemTrayIcon()
        self.icon.setObjectName("trayIcon")
        self.icon.setIcon(tray_icon("stopped"))
        self.icon.setToolTip("Bridge")
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        # the state and its cause, first in the menu, in bold: a line to read (never greyed
        # out like a disabled command), and a click on it shows where to look - the errors
        # when something waits on the merchant or on a side, else the window
        self.status_action = QAction(f"Bridge — {state_name('stopped')}", self.menu)
        self.status_action.setObjectName("trayStatus")
        bold = self.status_action.font()
        bold.setBold(True)
        self.status_action.setFont(bold)
        self.status_action.triggered.connect(self._status_clicked)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.sync_action = self._add(_("Sync now"), self.syncRequested.emit, "traySync")
        self.pause_action = self._add(_("Pause"), self.pauseToggled.emit, "trayPause")
        # "Pause for…" offers how long (while paused: a new end)
        self.pause_menu = ChoiceMenu(pause_choices, "trayPauseMenu")
        self.pause_menu.chosen.connect(self.pauseChosen.emit)
        self.pause_for_action = self.menu.addMenu(self.pause_menu)
        self.pause_for_action.setText(_("Pause &for…"))
        self.menu.addSeparator()
        self.log_action = self._add(_("View log"), self.openLog.emit, "trayLog")
        self.errors_action = self._add(_("Errors (0)"), self.openErrors.emit, "trayErrors")
        self.settings_action = self._add(_("Settings"), self.openSettings.emit, "traySettings")
        # not muted: "Mute notifications" offers how long; muted: until when, and undo
        self.mute_menu = ChoiceMenu(mute_choices, "trayMuteMenu")
        self.mute_menu.chosen.connect(self.muteChosen.emit)
        self.mute_action = self.menu.addMenu(self.mute_menu)
        self.mute_action.setText(_("&Mute notifications"))
        self.snooze_action = self._add("", self.unmuteRequested.emit, "trayUnmute")
        self.snooze_action.setVisible(False)
        self.muted_until: float | None = None
        self.about_action = self._add(_("About"), self.openAbout.emit, "trayAbout")
        self.menu.addSeparator()
        self.quit_action = self._add(_("Quit"), self.quitRequested.emit, "trayQuit")
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)

    def _add(self, text: str, slot: Any, name: str) -> QAction:
        action = QAction(text, self.menu)
        action.setObjectName(name)
        action.triggered.connect(slot)
        self.menu.addAction(action)
        return action

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # left click (and double click) opens the window; right click shows the menu
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.openWindow.emit()

    def _status_clicked(self) -> None:
        if self.state in ("attention", "retrying"):
            self.openErrors.emit()
        else:
            self.openWindow.emit()

    def set_status(self, s: Status) -> None:
        state = s.state.value
        if state != self.state:
            self.state = state
            self.icon.setIcon(tray_icon(state))
        counts = s.orders.counts
        pending = counts.get("queued", 0) + counts.get("sending", 0) + counts.get("sent_to_erp", 0)
        failed = counts.get("failed", 0)
        errors = s.errors.open
        last_ok = _last_success(s)
        why = cause_text(s.cause, self.erp_title)
        headline = f"Bridge — {state_name(state)}"
        self.status_action.setText(f"{headline}: {why}" if why else headline)
        self.icon.setToolTip(
            "\n".join(
                [
                    headline,
                    *([why] if why else []),
                    _("Last successful sync: {when}", when=ago(last_ok)),
                    _(
                        "Orders pending: {pending} · failed: {failed}",
                        pending=pending,
                        failed=failed,
                    ),
                ]
            )
        )
        self.pause_action.setText(_("Resume") if s.paused else _("Pause"))
        self.errors_action.setText(_("Errors ({n})", n=errors))

    def set_pause(self, paused: bool, until: float | None) -> None:
        """Paused: "Resume", with until when; running: "Pause"."""
        if paused:
            self.pause_action.setText(
                _("Paused {until} — &Resume", until=until_text(until)) if until else _("&Resume")
            )
        else:
            self.pause_action.setText(_("&Pause"))

    def set_muted(self, until: float | None) -> None:
        """Muted by hand: the menu says until when, and undoes it; else it offers muting."""
        self.muted_until = until
        self.mute_action.setVisible(not until)
        self.snooze_action.setVisible(bool(until))
        if until:
            self.snooze_action.setText(
                _("Notifications muted {until} — &Unmute", until=until_text(until))
            )

    def message(self, title: str, text: str, info: bool = False) -> None:
        if self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            icon = QSystemTrayIcon.MessageIcon
            self.icon.showMessage(title, text, icon.Information if info else icon.Warning, 15000)


def _last_success(s: Status) -> float | None:
    times = [s.catalog.last_ok_at]
    run = s.orders.last_run
    if run and run.status == "ok":
        times.append(run.finished_at)
    good = [t for t in times if t]
    return max(good) if good else None
