"""The tray app: Qt on the engine's asyncio loop via qasync.

Start-up: with a config, the engine starts and the tray icon shows; with none, the first-run
dialog offers the demo or the settings; with a broken one, the settings open on the problem.
Where the desktop has no tray, the main window opens instead and closing it quits.
Quitting ends the main coroutine (never `app.quit()` from inside the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

# PySide6 before qasync: qasync picks the Qt binding that is already imported
import PySide6.QtWidgets  # noqa: F401  (before qasync, which uses the binding already imported)
import qasync
from PySide6.QtCore import QLibraryInfo, QLocale, QTimer, QTranslator
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from bridge import __version__
from bridge.config import Config, Paths, load_config
from bridge.engine import Engine, create_engine
from bridge.errors import BridgeError, ConfigError
from bridge.events import setup_logging
from bridge.files import StorageError
from bridge.instance import InstanceLock
from bridge.registry import erp_entry
from bridge.runtime import Runtime
from bridge.secrets import SecretStore
from ui.controller import MUTE_AFTER_START_S, AppController, DemoSession
from ui.diagnostics import CrashReporter, DiagnosticsExporter, DiagnosticsSource
from ui.finder import Finder
from ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, language, plural, set_language
from ui.icons import app_icon
from ui.main_window import MainWindow
from ui.settings import SettingsDialog, ui_settings
from ui.texts import explain_code, keyring_text
from ui.tray import Tray
from ui.wizard import FirstRunDialog, PreviewDialog

log = logging.getLogger("bridge.ui")

# Starts the demo (simulators and an engine between them; the launcher composes it): given
# the profile and the size of its catalog, the engine, the demo's own profile, and the
# running simulators (stopped with the app).
DemoStarter = Callable[[Paths, int], Awaitable[tuple[Engine, Paths, DemoSession]]]


class BridgeApp:
    def __init__(
        self,
        paths: Paths,
        *,
        demo: bool = False,
        secrets: SecretStore | None = None,
        use_tray: bool | None = None,
        mute_after_start_s: float = MUTE_AFTER_START_S,
        demo_variants: int = 2000,
        lock: InstanceLock | None = None,
        demo_starter: DemoStarter | None = None,
    ) -> None:
        self.paths = paths
        self.demo = demo
        self.secrets = secrets or SecretStore()
        self.use_tray = Tray.available() if use_tray is None else use_tray
        self.mute_after_start_s = mute_after_start_s
        self.demo_variants = demo_variants
        self.demo_starter = demo_starter
        self.runtime = Runtime(lock, on_stop=self.quit, on_show=self._show)
        self.done = asyncio.Event()
        self.exit_code = 0
        self.controller: AppController | None = None
        self.window: MainWindow | None = None
        self.finder: Finder | None = None
        self.tray: Tray | None = None
        self.dialogs: list[QWidget] = []
        self.ready = asyncio.Event()  # the engine runs and the UI shows it
        self._tasks: set[asyncio.Future[Any]] = set()
        self._history_timer: QTimer | None = None
        self.exporter = DiagnosticsExporter(self.diagnostics_source, lambda: self.window)

    # -- entry -------------------------------------------------------------------------------
    def _handle_signals(self) -> None:
        """Ctrl+C / SIGTERM end the main coroutine cleanly. Qt's event loop keeps the
        interpreter in C++, so a timer gives Python a chance to see the signal."""
        loop = asyncio.get_running_loop()

        def handler(signum: int, frame: Any) -> None:
            loop.call_soon_threadsafe(self.quit)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, handler)
        self._signal_timer = QTimer()
        self._signal_timer.setInterval(1000)
        self._signal_timer.timeout.connect(lambda: None)
        self._signal_timer.start()

    async def run(self) -> int:
        self._handle_signals()
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        if self.demo:
            await self.start_demo()
        elif not self.paths.config_file.exists():
            self.show_first_run()
        else:
            try:
                config = load_config(self.paths.config_file)
            except ConfigError as exc:
                self.open_settings(None, problem=exc.message)
            else:
                await self.start_engine(config, self.paths, self.secrets)
        await self.done.wait()
        await self.shutdown()
        return self.exit_code

    def quit(self) -> None:
        self.done.set()

    def request_quit(self) -> None:
        """Quit from the menu (or the window, without a tray): asked first when orders are
        still on their way to the ERP."""
        status = self.controller.status if self.controller else None
        # queued, being sent, or failed and waiting for a retry: not in the ERP yet
        orders = status.orders if status is not None else None
        pending = orders.pending + orders.counts.get("failed", 0) if orders is not None else 0
        if not pending:
            self.quit()
            return
        box = QMessageBox(self.window)
        box.setObjectName("quitDialog")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(_("Quit Bridge?"))
        box.setText(
            plural(
                pending,
                _(
                    "{n} order is still on its way to the ERP. If you quit, it waits until "
                    "Bridge starts again."
                ),
                _(
                    "{n} orders are still on their way to the ERP. If you quit, they wait "
                    "until Bridge starts again."
                ),
            )
        )
        leave = box.addButton(_("Quit anyway"), QMessageBox.ButtonRole.AcceptRole)
        leave.setObjectName("quitConfirm")
        stay = box.addButton(_("Keep running"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.finished.connect(lambda _r: self.quit() if box.clickedButton() is leave else None)
        self._keep(box)
        box.open()  # never exec(): no nested loop inside the asyncio loop

    @staticmethod
    def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own reports (a callback that raised, a task nobody awaited) go to
        Bridge's log too, so that they are in the diagnostics."""
        exc = context.get("exception")
        log.error(
            "asyncio: %s",
            context.get("message", "error"),
            exc_info=exc if isinstance(exc, BaseException) else None,
        )
        loop.default_exception_handler(context)

    def diagnostics_source(self) -> DiagnosticsSource:
        """The running profile (the demo's while the demo runs)."""
        if self.controller is not None:
            engine = self.controller.engine

            status = self.controller.status
            return DiagnosticsSource(
                engine.paths,
                engine.config,
                engine.secrets,
                status.to_json() if status is not None else None,
                engine.flush,
            )
        return DiagnosticsSource(self.paths, None, self.secrets, None)

    def export_diagnostics(self) -> None:
        self.exporter.start()

    def spawn(self, coro: Any) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def finished(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("UI task failed", exc_info=t.exception())

        task.add_done_callback(finished)
        return task

    async def shutdown(self) -> None:
        # no timer of this app may fire once its loop is gone (a closed window lives on)
        for timer in (self._history_timer, getattr(self, "_signal_timer", None)):
            if timer is not None:
                timer.stop()
        # the engine's stop (and the demo's), then the instance file
        await self.runtime.shutdown(self.controller.stop() if self.controller else None)
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.quit_on_close = False  # closing it now is the quit itself
        for w in [self.window, *self.dialogs]:
            if w is not None:
                w.close()

    # -- first run ---------------------------------------------------------------------------
    def show_first_run(self) -> None:
        dialog = FirstRunDialog()
        dialog.demoChosen.connect(lambda: self.spawn(self.start_demo()))
        dialog.connectChosen.connect(lambda: self.open_settings(None, first_run=True))
        dialog.quitChosen.connect(self.quit)
        self._keep(dialog)
        dialog.open()

    def _keep(self, w: QWidget) -> None:
        self.dialogs.append(w)

    def open_settings(
        self, config: Config | None, *, first_run: bool = False, problem: str | None = None
    ) -> SettingsDialog:
        # the running engine's secrets and profile (the demo keeps its own, in memory)
        engine = self.controller.engine if self.controller else None
        dialog = SettingsDialog(
            engine.paths if engine else self.paths,
            engine.secrets if engine else self.secrets,
            config,
            self.window,
            first_run=first_run,
        )
        if problem:
            dialog.show_problem(problem)
        dialog.saved.connect(lambda cfg: self.spawn(self.settings_saved(cfg, first_run)))
        if self.controller is None:
            dialog.rejected.connect(self.quit)
        self._keep(dialog)
        dialog.open()
        return dialog

    async def settings_saved(self, config: Config, first_run: bool) -> None:
        self.change_language(config.ui.language)
        if self.controller is None:
            if first_run:
                await self.show_preview(config)
            else:
                await self.start_engine(config, self.paths, self.secrets)
            return
        engine = self.controller.engine
        try:
            await engine.apply_config(config)
            if not engine.started:
                # it could not start (a token lost, say) and the settings fix it: start now
                await self.controller.start()
        except ConfigError as exc:
            self.open_settings(config, problem=exc.message)
        await self.controller.refresh()

    def change_language(self, wanted: str) -> None:
        """A language chosen in Settings: remembered for the next start (the demo's profile
        is made anew at each start, so its own config cannot keep it), and used at once by
        what is shown from now on (dialogs, messages, the log's new lines). The windows
        already built keep their words until Bridge is opened again, as Settings says."""
        if wanted == language():
            return
        remember_language(self.paths, wanted)
        set_language(wanted)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            install_qt_translation(app, wanted)

    async def show_preview(self, config: Config) -> None:
        preview = PreviewDialog()
        self._keep(preview)
        preview.startChosen.connect(lambda: self.spawn(self.start_from_preview(config)))
        preview.backChosen.connect(lambda: self.open_settings(config, first_run=True))
        preview.rejected.connect(self.quit)
        preview.open()
        engine = create_engine(config, self.paths, self.secrets)
        try:
            preview.show_preview(await engine.preview_first_sync())
        except BridgeError as exc:  # said by its code: the engine's text is English
            preview.show_failure(explain_code(exc.code, exc.kind.value).rstrip("."))
        except Exception as exc:
            preview.show_failure(str(exc))
        finally:
            await engine.stop()
            engine.close()

    async def start_from_preview(self, config: Config) -> None:
        await self.start_engine(config, self.paths, self.secrets)
        await self.tell_still_running()

    async def tell_still_running(self) -> None:
        """Once per profile, when Bridge goes on without its window (after "Start syncing",
        or when the window is closed): where it is now."""
        if self.tray is None or self.controller is None:
            return
        if await self.controller.engine.once("told_tray"):
            self.tray.message(
                _("Bridge keeps running in the tray"),
                _(
                    "It goes on syncing orders, stock and prices. Click its icon to open "
                    "the window; quit it from the icon's menu."
                ),
                info=True,
            )

    # -- demo --------------------------------------------------------------------------------
    async def start_demo(self) -> None:
        if self.demo_starter is None:  # the demo extra (the simulators) is not installed
            self.demo_not_installed()
            return
        engine, demo_paths, world = await self.demo_starter(self.paths, self.demo_variants)
        await self.start_with_engine(engine, demo_paths, demo=world)

    def demo_not_installed(self) -> None:
        """The demo asked for in an install without its simulators (the `demo` extra): the
        merchant is told, and gets the first-run choices again (connect the ERP, quit)."""
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            _("The demo is not installed"),
            _(
                "This installation of Bridge has no simulated ERP and store. To try the demo, "
                'install Bridge with its "demo" extra: pip install "bridge[demo]"'
            ),
        )
        box.setObjectName("demoNotInstalledBox")
        box.finished.connect(
            lambda _code: self.show_first_run() if self.controller is None else None
        )
        self._keep(box)
        box.open()

    # -- normal start ------------------------------------------------------------------------
    async def start_engine(self, config: Config, paths: Paths, secrets: SecretStore) -> None:
        engine = create_engine(config, paths, secrets)
        await self.start_with_engine(engine, paths)

    async def start_with_engine(
        self, engine: Engine, paths: Paths, demo: DemoSession | None = None
    ) -> None:
        setup_logging(paths.log_dir, engine.config.logging.level)
        controller = AppController(engine, demo=demo, mute_after_start_s=self.mute_after_start_s)
        self.controller = controller
        window = MainWindow()
        if demo is not None:
            window.setWindowTitle(_("Bridge — demo (simulated ERP and store)"))
        self.window = window
        window.log.load(await controller.recent_events())
        controller.eventAdded.connect(window.log.add_event)
        controller.statusChanged.connect(window.set_status)
        controller.statusChanged.connect(lambda s: window.set_pause(s.paused, engine.paused_until))
        controller.todayChanged.connect(window.overview.today.set_today)
        window.pauseChosen.connect(controller.pause_until)
        window.hiddenToTray.connect(lambda: self.spawn(self.tell_still_running()))
        controller.errorsChanged.connect(window.errors.set_errors)
        window.syncRequested.connect(controller.sync_now)
        # "Update one product": the finder runs it and shows its result in the products view
        self.finder = Finder(controller, window)
        window.skuSyncRequested.connect(self.finder.sync_sku)
        window.pauseToggled.connect(controller.toggle_pause)
        window.settingsRequested.connect(lambda: self.open_settings(engine.config))
        window.aboutRequested.connect(self.show_about)
        window.diagnosticsRequested.connect(self.export_diagnostics)
        window.errors.retryRequested.connect(controller.retry)
        window.errors.retryAllRequested.connect(controller.retry_all)
        window.errors.discardRequested.connect(controller.discard)
        window.errors.undoDiscardRequested.connect(controller.undo_discard)
        window.errors.approveRequested.connect(controller.approve)
        controller.commandRefused.connect(window.errors.show_problem)
        controller.discardDone.connect(window.errors.discard_done)
        window.tabs.currentChanged.connect(
            lambda i: self.spawn(self.refresh_history()) if i == window.TAB_HISTORY else None
        )
        window.closed.connect(self.request_quit)
        self._history_timer = QTimer(window)
        self._history_timer.setInterval(30000)
        self._history_timer.timeout.connect(lambda: self.spawn(self.refresh_history()))
        self._history_timer.start()
        if self.use_tray:
            tray = Tray()
            self.tray = tray
            controller.statusChanged.connect(tray.set_status)
            controller.statusChanged.connect(
                lambda s: tray.set_pause(s.paused, engine.paused_until)
            )
            controller.muteChanged.connect(tray.set_muted)
            tray.pauseChosen.connect(controller.pause_until)
            tray.muteChosen.connect(controller.mute_until)
            tray.unmuteRequested.connect(controller.unmute)
            controller.notify.connect(tray.message)
            tray.syncRequested.connect(controller.sync_now)
            tray.pauseToggled.connect(controller.toggle_pause)
            tray.openWindow.connect(window.show_and_raise)
            tray.openLog.connect(lambda: window.show_tab(window.TAB_LOG))
            tray.openErrors.connect(lambda: window.show_tab(window.TAB_ERRORS))
            tray.openSettings.connect(lambda: self.open_settings(engine.config))
            tray.openAbout.connect(self.show_about)
            tray.quitRequested.connect(self.request_quit)
            tray.show()
            log.info("tray icon shown")
        else:
            # no tray on this desktop: the window is the app
            window.quit_on_close = True
            window.show()
            log.info("main window shown (no system tray)")
        erp_title = erp_entry(engine.config.erp.kind).title
        window.overview.erp_title = erp_title
        window.errors.erp_title = erp_title
        if self.tray is not None:
            self.tray.erp_title = erp_title
        try:
            await controller.start()
        except ConfigError as exc:
            # the state says what is wrong (never "Starting…" forever)
            await controller.refresh()
            window.show_and_raise()
            self.open_settings(engine.config, problem=exc.message)
        if demo is None:

            async def apply(cfg: Config) -> None:
                await self.settings_saved(cfg, False)

            self.runtime.watch_config(engine, apply)
        await self.refresh_history()
        await self.runtime.serve_commands(engine)
        # what start-up created lives as long as the app: keep it out of the garbage
        # collector's full passes, which otherwise stall the UI during big syncs
        gc.freeze()
        self.ready.set()

    def _show(self) -> None:
        """A second start of Bridge on this profile opens the window (`bridge stop` ends
        the app as from its menu, `bridge sync` syncs: see Runtime)."""
        if self.window is not None:
            self.window.show_and_raise()

    async def refresh_history(self) -> None:
        if self.controller is not None and self.window is not None:
            self.window.history.set_history(await self.controller.history())

    def show_about(self) -> None:
        engine = self.controller.engine if self.controller else None
        box = QMessageBox(self.window)
        box.setObjectName("aboutBox")
        box.setWindowTitle(_("About Bridge"))
        box.setIconPixmap(app_icon().pixmap(64, 64))
        data = engine.paths.data_dir if engine else self.paths.data_dir
        box.setText(
            _(
                "<b>Bridge {version}</b><br>Keeps your VentasxMayor store and your ERP "
                "in sync.<br><br>Data and logs: {data}<br>Keyring: {keyring}",
                version=__version__,
                data=data,
                keyring=keyring_text(self.secrets.backend.secure, self.secrets.backend.detail),
            )
        )
        self._keep(box)
        box.open()


def remember_language(paths: Paths, language_code: str) -> None:
    settings = ui_settings(paths)
    settings.setValue("language", language_code)
    settings.sync()


def startup_language(paths: Paths, demo: bool = False) -> str:
    """The UI's language at start: the profile's config says it; the demo (whose profile
    is made anew at each start) and a first run (no config yet) use the one last chosen in
    Settings on this profile."""
    if not demo:
        with contextlib.suppress(ConfigError):
            if paths.config_file.exists():
                return load_config(paths.config_file).ui.language
    chosen = ui_settings(paths).value("language", DEFAULT_LANGUAGE)
    return chosen if isinstance(chosen, str) and chosen in LANGUAGES else DEFAULT_LANGUAGE


_qt_translators: list[QTranslator] = []


def install_qt_translation(app: QApplication, language_code: str) -> QTranslator | None:
    """Qt's own texts (the standard buttons and the file dialog) in the UI's language: Qt's
    qtbase_<lang>.qm from PySide6's translations folder (the bundle ships the Spanish one,
    see bridge.spec). Replaces the one installed before."""
    while _qt_translators:
        app.removeTranslator(_qt_translators.pop())
    if language_code == "en":
        return None
    translator = QTranslator(app)
    where = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if not translator.load(QLocale(language_code), "qtbase", "_", where):
        log.warning("Qt's own translation for %s not found in %s", language_code, where)
        return None
    app.installTranslator(translator)
    _qt_translators.append(translator)
    return translator


def startup_failed(problem: StorageError) -> int:
    """Bridge cannot use its data folder or its state file: the merchant is told (a message
    box, one line on stderr), and the app does not start."""
    print(problem.message, file=sys.stderr, flush=True)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        _("Bridge cannot start"),
        _("Bridge cannot use its data folder or its state file."),
    )
    box.setObjectName("startupFailedBox")
    box.setInformativeText(problem.message)
    box.exec()  # the loop is not running (yet, or any more)
    return 1


def main(paths: Paths, demo: bool = False, demo_starter: DemoStarter | None = None) -> int:
    """The tray app on this profile (`demo`: the demo, started by `demo_starter`)."""
    from bridge.instance import hand_over

    name = "demo" if demo else "bridge"
    lock = InstanceLock(paths.data_dir, name)
    try:
        acquired = lock.acquire()
    except StorageError as problem:
        return startup_failed(problem)
    if not acquired:
        # one Bridge per profile: the running one opens its window instead
        if hand_over(paths.data_dir, "show", name=name):
            print("Bridge is already running; its window was opened.")
            return 0
        print(
            f"Another Bridge holds {paths.data_dir} but does not answer; stop it first.",
            file=sys.stderr,
        )
        return 1
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Bridge")
    app.setOrganizationName("VentasxMayor")
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(app_icon())
    chosen = startup_language(paths, demo)
    set_language(chosen)
    install_qt_translation(app, chosen)
    # until the engine starts (and picks its level and profile), errors go to this profile's
    # log, so that a crash during the first run is in the diagnostics too
    try:
        setup_logging(paths.log_dir, "INFO")
    except StorageError as problem:
        return startup_failed(problem)
    bridge_app = BridgeApp(paths, demo=demo, lock=lock, demo_starter=demo_starter)
    crash = CrashReporter(bridge_app.diagnostics_source, lambda: bridge_app.window)
    crash.install()
    try:
        return int(qasync.run(bridge_app.run()))
    except StorageError as problem:  # the state file (the engine opens it) cannot be used
        log.error("%s", problem.message)
        return startup_failed(problem)
    except Exception:
        exc_type, exc, tb = sys.exc_info()
        assert exc_type is not None and exc is not None
        crash.fatal((exc_type, exc, tb))
        return 1
    finally:
        crash.uninstall()
