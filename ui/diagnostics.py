""" "Export diagnostics" in the UI, and the crash dialog that offers it.

Both open their dialogs with `open()` (never `exec()`: the app runs on the asyncio loop) and
write the zip (bridge.diagnostics) off the UI thread.

The crash reporter is `sys.excepthook`: an exception escaping a Qt slot is logged with its
traceback (to the log file, which goes into the diagnostics) and a dialog says Bridge hit an
unexpected error, with "Export diagnostics…" and "Close". It never recurses: an error while
it handles one is only logged, and one dialog is shown at a time. (asyncio's own reports —
a callback that raised — are logged by BridgeApp, not shown.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from bridge import redact
from bridge.config import Config, Paths
from bridge.diagnostics import default_name, write_zip
from bridge.secrets import SecretStore
from ui.i18n import _

log = logging.getLogger("bridge.ui")


@dataclass
class DiagnosticsSource:
    """What the zip describes: the running profile (the demo's when the demo runs)."""

    paths: Paths
    config: Config | None = None
    secrets: SecretStore | None = None
    status: dict[str, Any] | None = None
    # writes what the running engine still buffers (events) before the zip reads the state
    flush: Callable[[], Awaitable[None]] | None = None


def default_folder() -> Path:
    desktop = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DesktopLocation)
    if desktop and Path(desktop).is_dir():
        return Path(desktop)
    return Path.home()


class DiagnosticsExporter(QObject):
    """Save dialog -> zip written in a worker thread -> a message saying where it is."""

    written = Signal(str)  # the zip's path
    failed = Signal(str)  # the problem
    closed = Signal()  # the save dialog was cancelled, or the result message closed

    def __init__(
        self,
        source: Callable[[], DiagnosticsSource],
        parent: Callable[[], QWidget | None] = lambda: None,
    ) -> None:
        super().__init__()
        self.source = source
        self.parent_widget = parent
        self.dialog: QFileDialog | None = None
        self.message: QMessageBox | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def start(self) -> QFileDialog:
        dialog = QFileDialog(self.parent_widget(), _("Export diagnostics"))
        dialog.setObjectName("diagnosticsDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setNameFilter(_("Zip files (*.zip)"))
        dialog.setDefaultSuffix("zip")
        dialog.setDirectory(str(default_folder()))
        dialog.selectFile(default_name())
        dialog.fileSelected.connect(self.export_to)
        dialog.rejected.connect(self.closed.emit)
        self.dialog = dialog
        dialog.open()
        return dialog

    def export_to(self, path: str) -> None:
        if not path:
            return
        try:
            src = self.source()
        except Exception as exc:  # the app is in a bad state: say so, never raise from here
            log.exception("diagnostics: no current profile")
            self._done("", redact.redact(f"{type(exc).__name__}: {exc}"))
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no asyncio loop (after a fatal error): write it here
            self._done(*self._write(src, Path(path)))
            return
        task = asyncio.ensure_future(self._export(src, Path(path)))
        self._tasks.add(task)

        def finished(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            self._done(*t.result())

        task.add_done_callback(finished)

    async def _export(self, src: DiagnosticsSource, path: Path) -> tuple[str, str]:
        if src.flush is not None:
            try:
                await src.flush()
            except Exception:
                log.exception("diagnostics: flushing the engine's events failed")
        return await asyncio.to_thread(self._write, src, path)

    @staticmethod
    def _write(src: DiagnosticsSource, path: Path) -> tuple[str, str]:
        try:
            out = write_zip(src.paths, path, src.config, secrets=src.secrets, status=src.status)
        except Exception as exc:
            log.exception("diagnostics export failed")
            return "", redact.redact(f"{type(exc).__name__}: {exc}")
        log.info("diagnostics written to %s", out)
        return str(out), ""

    def _done(self, path: str, problem: str) -> None:
        box = QMessageBox(self.parent_widget())
        box.setObjectName("diagnosticsResult")
        box.setWindowTitle(_("Export diagnostics"))
        if path:
            box.setIcon(QMessageBox.Icon.Information)
            box.setText(
                _(
                    "Diagnostics saved to:<br><b>{path}</b><br><br>Send this file to "
                    "support. It contains no passwords or tokens.",
                    path=path,
                )
            )
        else:
            box.setIcon(QMessageBox.Icon.Warning)
            box.setText(_("The diagnostics could not be saved: {problem}", problem=problem))
        self.message = box
        box.finished.connect(lambda _r: self.closed.emit())
        box.open()
        if path:
            self.written.emit(path)
        else:
            self.failed.emit(problem)


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class CrashReporter:
    def __init__(
        self,
        source: Callable[[], DiagnosticsSource],
        parent: Callable[[], QWidget | None] = lambda: None,
    ) -> None:
        self.source = source
        self.parent = parent
        self.exporter = DiagnosticsExporter(source, parent)
        self.box: QMessageBox | None = None
        self.crashes = 0
        self._in_hook = False
        self._previous: Callable[..., Any] | None = None

    def install(self) -> None:
        self._previous = sys.excepthook
        sys.excepthook = self.hook

    def uninstall(self) -> None:
        if sys.excepthook == self.hook:
            sys.excepthook = self._previous or sys.__excepthook__

    def hook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt) or self._in_hook:
            # Ctrl+C, or an error raised while handling one: only printed, never a loop
            with contextlib.suppress(Exception):
                sys.__excepthook__(exc_type, exc, tb)
            return
        self._in_hook = True
        try:
            self.crashes += 1
            with contextlib.suppress(Exception):
                log.critical("Unexpected error", exc_info=(exc_type, exc, tb))
            with contextlib.suppress(Exception):
                # a terminal, when there is one (a windowed exe on Windows has no stderr)
                if sys.stderr is not None:
                    sys.__excepthook__(exc_type, exc, tb)
            if self.box is not None and self.box.isVisible():
                return  # one dialog at a time; this one is in the log
            if QApplication.instance() is None:
                return
            self.show((exc_type, exc, tb))
        except Exception:
            with contextlib.suppress(Exception):
                log.critical("the crash dialog failed", exc_info=True)
        finally:
            self._in_hook = False

    def show(self, exc_info: ExcInfo) -> QMessageBox:
        exc_type, exc, tb = exc_info
        box = QMessageBox(self.parent())
        box.setObjectName("crashDialog")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle(_("Bridge — unexpected error"))
        box.setText(
            _(
                "Bridge hit an unexpected error. Something may not work as it should "
                "until you restart it."
            )
        )
        box.setInformativeText(
            _(
                "Export the diagnostics and send the file to support: it helps find the cause "
                "and contains no passwords or tokens."
            )
            + "\n\n"
            + redact.redact(f"{exc_type.__name__}: {exc}")
        )
        box.setDetailedText(redact.redact("".join(traceback.format_exception(exc_type, exc, tb))))
        export = box.addButton(_("Export diagnostics…"), QMessageBox.ButtonRole.ActionRole)
        export.setObjectName("crashExport")
        close = box.addButton(_("Close"), QMessageBox.ButtonRole.RejectRole)
        close.setObjectName("crashClose")
        box.setDefaultButton(export)
        box.buttonClicked.connect(lambda b: self.exporter.start() if b is export else None)
        self.box = box
        box.open()
        return box

    def fatal(self, exc_info: ExcInfo) -> None:
        """The app itself stopped on an error (no asyncio loop any more): log it and show
        the dialog on a plain Qt loop until the merchant closes it."""
        self.hook(*exc_info)
        app = QApplication.instance()
        box = self.box
        if box is None or not isinstance(app, QApplication) or not box.isVisible():
            return
        exporting: list[bool] = []
        box.buttonClicked.connect(
            lambda b: exporting.append(True) if b.objectName() == "crashExport" else None
        )
        # "Export diagnostics…" closes the box too: then wait for the export to end
        box.finished.connect(lambda _r: None if exporting else app.quit())
        self.exporter.closed.connect(app.quit)
        app.exec()
