"""Settings that fit and don't bite (#14, point 7): the dialog fits the screen with its
buttons in view and remembers its size; the wheel does not change a field it only passes
over; stock and prices in minutes; each ERP's own fields, "Browse…" for a folder; every
field's problem at once, next to the field; typed secrets are not dropped without asking;
the last test's results go when the ERP changes."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QScreen, QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from bridge.config import load_config
from tests.conftest import write_profile
from ui.i18n import set_language
from ui.settings import SettingsDialog

# 1366×768 at 150 % is 911×512 in Qt's units; a Windows taskbar takes the bottom 27 of them
SMALL_SCREEN = QRect(0, 0, 911, 485)


@pytest.fixture
def paths(tmp_path):
    set_language("en")
    return write_profile(
        tmp_path,
        "http://127.0.0.1:9/",
        "http://127.0.0.1:9/api/",
        "CLIENTE",
        catalog_interval_s=3600,
    )


@pytest.fixture
def secrets():
    from bridge.secrets import SecretStore

    store = SecretStore(use_keyring=False)
    store.set_session("store.token", "t" * 20)
    store.set_session("erp.token", "e" * 20)
    return store


def dialog_for(qtbot, paths, secrets) -> SettingsDialog:
    dialog = SettingsDialog(paths, secrets, load_config(paths.config_file))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def bottom_in(dialog: QWidget, w: QWidget) -> int:
    return w.mapTo(dialog, QPoint(0, w.height())).y()


def test_fits_a_small_screen_with_its_buttons_in_view_and_remembers_its_size(
    qtbot, paths, secrets, monkeypatch
):
    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: SMALL_SCREEN)
    dialog = dialog_for(qtbot, paths, secrets)
    assert dialog.height() <= SMALL_SCREEN.height() and dialog.width() <= SMALL_SCREEN.width()
    save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    assert save.isVisible() and bottom_in(dialog, save) <= dialog.height()
    # the form scrolls instead
    assert dialog.form_scroll.verticalScrollBar().maximum() > 0
    print(f"settings on {SMALL_SCREEN.width()}×{SMALL_SCREEN.height()}: {dialog.size()}")
    dialog.resize(700, 420)
    dialog.reject()
    again = dialog_for(qtbot, paths, secrets)
    assert again.size() == QSize(700, 420)
    again.reject()
    # a remembered size larger than the screen is cut to the screen
    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, 600, 380))
    third = dialog_for(qtbot, paths, secrets)
    assert third.width() <= 600 and third.height() <= 380


def wheel(widget: QWidget, up: bool = True) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 if up else -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_changes_only_a_field_clicked_into(qtbot, paths, secrets):
    dialog = dialog_for(qtbot, paths, secrets)
    spin = dialog.orders_every
    before = spin.value()
    kind = dialog.kind.currentIndex()
    dialog.buttons.setFocus()
    wheel(spin)
    wheel(dialog.kind, up=False)
    assert spin.value() == before and dialog.kind.currentIndex() == kind
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel(spin)
    assert spin.value() == before + 1


def test_stock_and_prices_in_minutes(qtbot, paths, secrets):
    dialog = dialog_for(qtbot, paths, secrets)
    assert dialog.catalog_every.value() == 60 and dialog.catalog_every.suffix() == " min"
    dialog.save()
    assert load_config(paths.config_file).sync.catalog_interval_s == 3600
    dialog = dialog_for(qtbot, paths, secrets)
    dialog.catalog_every.setValue(5)
    dialog.save()
    assert load_config(paths.config_file).sync.catalog_interval_s == 300


def test_each_erp_shows_its_own_fields_and_a_new_kind_clears_the_test(qtbot, paths, secrets):
    dialog = dialog_for(qtbot, paths, secrets)
    dialog.erp_result.setText("✔ ERP reachable: http://127.0.0.1:9/api/")
    assert dialog.erp_insecure.isVisible() and dialog.orders_every.isVisible()
    endpoint = dialog.erp_page().widgets["endpoint"]
    assert dialog.erp_page().errors  # the plain label, the vendor's name as the hint
    assert 'this is "Endpoint"' in endpoint.toolTip()
    labels = [w.text() for w in dialog.erp_page().findChildren(QLabel)]
    assert "Server address *" in labels and "Endpoint *" not in labels
    dialog.show_field_problems([("erp.endpoint", "must end with '/'")])
    dragonfish_height = dialog.pages.sizeHint().height()
    dialog.kind.setCurrentIndex(dialog.kind.findData("folder"))
    assert dialog.erp_result.text() == ""
    assert not dialog.problem.isVisible()  # the other ERP's problems went with its form
    # the form as tall as the folder's two fields, not as Dragonfish's nine
    assert dialog.pages.sizeHint().height() < dragonfish_height / 2
    # an import folder: no certificates, no orders
    assert not dialog.erp_insecure.isVisible() and not dialog.erp_tls.isVisible()
    assert not dialog.orders_every.isVisible()
    browse = dialog.erp_page().findChild(QWidget, "erpBrowseFolder")
    assert browse is not None and browse.isVisible()


def test_browse_picks_a_folder_without_blocking(qtbot, paths, secrets, tmp_path):
    dialog = dialog_for(qtbot, paths, secrets)
    dialog.kind.setCurrentIndex(dialog.kind.findData("folder"))
    page = dialog.erp_page()
    page.findChild(QWidget, "erpBrowseFolder").click()
    picker = page.folder_dialog
    assert picker is not None and picker.isVisible()  # open(): the loop goes on
    picker.fileSelected.emit(str(tmp_path))
    picker.close()
    assert page.widgets["path"].text() == str(tmp_path)


def test_every_field_problem_at_once_next_to_its_field(qtbot, paths, secrets):
    from bridge.secrets import SecretStore

    dialog = dialog_for(qtbot, paths, SecretStore(use_keyring=False))  # no secrets at all
    page = dialog.erp_page()
    page.widgets["endpoint"].setText("http://127.0.0.1:9/api")
    page.widgets["cliente"].setText("")
    dialog.store_url.setText("tienda")
    before = paths.config_file.read_text()
    dialog.save()
    assert dialog.isVisible() and paths.config_file.read_text() == before
    shown = {k for k, label in dialog._error_labels().items() if label.isVisible()}
    assert shown == {"erp.endpoint", "erp.cliente", "erp.token", "store.url", "store.token"}
    assert page.errors["erp.endpoint"].text() == "must end with '/'"
    assert page.errors["erp.cliente"].text() == "must not be empty"
    lines = dialog.problem.text().splitlines()
    assert len(lines) == 5 and "Server address: must end with '/'" in lines
    # fixed: the errors go
    page.widgets["endpoint"].setText("http://127.0.0.1:9/api/")
    dialog.save()
    assert not page.errors["erp.endpoint"].isVisible()
    assert page.errors["erp.cliente"].isVisible()


def discard_box() -> QMessageBox | None:
    return next(
        (
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox)
            and w.objectName() == "discardSecretsBox"
            and w.isVisible()
        ),
        None,
    )


def test_cancel_with_a_typed_token_asks_first(qtbot, paths, secrets):
    dialog = dialog_for(qtbot, paths, secrets)
    dialog.reject()  # nothing typed: closes at once
    assert not dialog.isVisible()
    dialog = dialog_for(qtbot, paths, secrets)
    dialog.store_token.setText("a-new-token")
    dialog.reject()
    box = discard_box()
    assert box is not None and dialog.isVisible()
    box.button(QMessageBox.StandardButton.Cancel).click()  # "Keep editing"
    assert dialog.isVisible() and dialog.store_token.text() == "a-new-token"
    dialog.reject()
    box = discard_box()
    assert box is not None
    box.button(QMessageBox.StandardButton.Discard).click()  # "Close without saving"
    assert not dialog.isVisible()
    assert dialog.result() == SettingsDialog.DialogCode.Rejected


def with_quiet_hours(paths, start: str, end: str) -> None:
    """Quiet hours written in the config file by hand."""
    from bridge.config import parse_config, save_config

    data = load_config(paths.config_file).to_toml()
    data["ui"].update(quiet_from=start, quiet_to=end)
    save_config(parse_config(data), paths.config_file)


def test_quiet_hours_are_set_kept_and_checked_next_to_their_field(qtbot, paths, secrets):
    set_language("es_AR")
    try:
        # none yet: off, the times greyed out with a sensible night suggested
        dialog = dialog_for(qtbot, paths, secrets)
        assert dialog.quiet_on.text() == "Horario silencioso: sin avisos entre las"
        assert not dialog.quiet_on.isChecked() and not dialog.quiet_from.isEnabled()
        assert dialog.quiet_from.time().toString("HH:mm") == "21:00"
        assert dialog.quiet_to.time().toString("HH:mm") == "08:00"
        # passed over by the wheel, like every other field
        before = dialog.quiet_from.time()
        dialog.quiet_on.setChecked(True)
        dialog.buttons.setFocus()
        wheel(dialog.quiet_from)
        assert dialog.quiet_from.time() == before
        assert dialog.quiet_from.focusPolicy() == Qt.FocusPolicy.StrongFocus
        # the same start and end is no range: said next to the field, nothing saved
        dialog.quiet_to.setTime(dialog.quiet_from.time())
        dialog.save()
        error = dialog.findChild(QLabel, "error_ui.quiet_hours")
        assert error.isVisible()
        assert error.text() == "el comienzo y el fin tienen que ser distintos"
        assert "Horario silencioso: el comienzo y el fin" in dialog.problem.text()
        assert load_config(paths.config_file).ui.quiet_from == ""
        # across midnight
        dialog.quiet_from.setTime(dialog.quiet_from.time().fromString("22:30", "HH:mm"))
        dialog.quiet_to.setTime(dialog.quiet_to.time().fromString("07:15", "HH:mm"))
        dialog.save()
        assert not error.isVisible()
        ui = load_config(paths.config_file).ui
        assert (ui.quiet_from, ui.quiet_to, ui.language) == ("22:30", "07:15", "es_AR")
        # shown again as saved; saving something else keeps them
        again = dialog_for(qtbot, paths, secrets)
        assert again.quiet_on.isChecked() and again.quiet_from.isEnabled()
        assert again.quiet_from.time().toString("HH:mm") == "22:30"
        again.orders_every.setValue(9)
        again.save()
        assert load_config(paths.config_file).ui.quiet_to == "07:15"
        # turned off: none
        third = dialog_for(qtbot, paths, secrets)
        third.quiet_on.setChecked(False)
        third.save()
        ui = load_config(paths.config_file).ui
        assert (ui.quiet_from, ui.quiet_to) == ("", "")
    finally:
        set_language("en")


def test_quiet_hours_written_in_the_file_survive_a_save(qtbot, paths, secrets):
    with_quiet_hours(paths, "21:00", "8:00")
    dialog = dialog_for(qtbot, paths, secrets)
    assert dialog.quiet_on.isChecked()
    assert dialog.quiet_to.time().toString("HH:mm") == "08:00"
    dialog.save()
    ui = load_config(paths.config_file).ui
    assert (ui.quiet_from, ui.quiet_to) == ("21:00", "08:00")


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        ("25:00", "08:00", "'25:00' no es una hora del día, como 21:30"),
        ("21:00", "", "el horario silencioso necesita un comienzo y un fin"),
    ],
)
def test_quiet_hours_broken_in_the_file_are_said_in_spanish_next_to_the_field(
    qtbot, paths, secrets, start, end, said
):
    """A config edited by hand: Bridge opens the settings on the problem (ui.app), which
    is said in the merchant's words next to the quiet hours."""
    from bridge.errors import ConfigError

    text = paths.config_file.read_text(encoding="utf-8")
    text = text.replace('quiet_from = ""', f'quiet_from = "{start}"')
    paths.config_file.write_text(text.replace('quiet_to = ""', f'quiet_to = "{end}"'))
    with pytest.raises(ConfigError) as broken:
        load_config(paths.config_file)
    set_language("es_AR")
    try:
        dialog = SettingsDialog(paths, secrets, None)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.show_problem(broken.value.message)
        error = dialog.findChild(QLabel, "error_ui.quiet_hours")
        assert error.isVisible() and error.text() == said
        assert dialog.problem.text() == f"Horario silencioso: {said}"
    finally:
        set_language("en")
