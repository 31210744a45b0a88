"""First run: try Bridge with sample data (the demo), or connect your ERP (settings, test,
then a preview of how many products the first sync would change)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.i18n import _
from ui.icons import app_icon


class FirstRunDialog(QDialog):
    demoChosen = Signal()
    connectChosen = Signal()
    quitChosen = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
        self.setWindowTitle(_("Welcome to Bridge"))
        self.setWindowIcon(app_icon())
        self.resize(560, 360)
        title = QLabel(_("Welcome to Bridge"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        text = QLabel(
            _(
                "Bridge takes every order from your VentasxMayor store to your ERP, "
                "exactly once, and keeps the store's stock and prices up to date with "
                "the ERP. It runs next to your ERP and only connects outwards."
            )
        )
        text.setWordWrap(True)
        self.demo_btn = QCommandLinkButton(
            _("Try it with sample data"),
            _(
                "A simulated ERP and store on this PC: watch orders and stock flow. Nothing "
                "touches your real systems."
            ),
        )
        self.demo_btn.setObjectName("chooseDemo")
        self.connect_btn = QCommandLinkButton(
            _("Connect my ERP"),
            _(
                "Enter your ERP's and your store's details, test the connection, and see what "
                "the first sync would change before it runs."
            ),
        )
        self.connect_btn.setObjectName("chooseConnect")
        quit_btn = QPushButton(_("Quit"))
        self.demo_btn.clicked.connect(self._demo)
        self.connect_btn.clicked.connect(self._connect)
        quit_btn.clicked.connect(self._quit)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(12)
        layout.addWidget(self.demo_btn)
        layout.addWidget(self.connect_btn)
        layout.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(quit_btn)
        layout.addLayout(row)
        self._chosen = False

    def _demo(self) -> None:
        self._chosen = True
        self.accept()
        self.demoChosen.emit()

    def _connect(self) -> None:
        self._chosen = True
        self.accept()
        self.connectChosen.emit()

    def _quit(self) -> None:
        self._chosen = True
        self.reject()
        self.quitChosen.emit()

    def reject(self) -> None:
        super().reject()
        if not self._chosen:
            self._chosen = True
            self.quitChosen.emit()


class PreviewDialog(QDialog):
    """After the settings are saved: what the first sync would change."""

    startChosen = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewDialog")
        self.setWindowTitle(_("First sync"))
        self.resize(520, 260)
        self.text = QLabel(_("Comparing the ERP's stock and prices with the store…"))
        self.text.setObjectName("previewText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.start_btn = QPushButton(_("Start syncing"))
        self.start_btn.setObjectName("startSync")
        self.start_btn.setEnabled(False)
        self.start_btn.clicked.connect(self._start)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.start_btn)
        layout.addLayout(row)

    def show_preview(self, p: dict[str, Any]) -> None:
        self.text.setText(
            _(
                "The ERP has <b>{variants}</b> products. The first sync would change the stock or "
                "price of <b>{would_change}</b> of the store's {store_products} products. "
                "<b>{unknown_in_store}</b> ERP products do not exist in the store and will be "
                "listed so you can create them.",
                **p,
            )
        )
        self.start_btn.setEnabled(True)

    def show_failure(self, message: str) -> None:
        self.text.setText(
            _(
                "The preview could not be made: {message}. You can start anyway; "
                "problems will show in the error list.",
                message=message,
            )
        )
        self.start_btn.setEnabled(True)

    def _start(self) -> None:
        self.accept()
        self.startChosen.emit()
