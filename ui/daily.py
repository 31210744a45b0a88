"""Everyday use: pausing the sync or muting notifications for a chosen time, quiet hours,
and the overview's "Today" block.

The ends of a pause and of a mute are wall times (time.time()), shown as local clock times;
the choices are made when the menu opens, so that "for 1 hour" counts from then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QMenu, QToolButton, QWidget

from bridge.status import Today
from ui.i18n import _, plural
from ui.texts import ago

# "until tomorrow" means tomorrow at this hour (the shop opens again)
TOMORROW_HOUR = 8

Choice = tuple[str, float | None]  # what the menu says, the end (None: until undone)


def tomorrow_morning(now: datetime) -> datetime:
    day = now.date() + timedelta(days=1)
    return datetime.combine(day, datetime.min.time()).replace(hour=TOMORROW_HOUR)


def until_text(ts: float, now: float | None = None) -> str:
    """A pause's or a mute's end, said whole: "hasta las 15:30" today, "hasta mañana a las
    08:00", else "hasta el lun 30/11 a las 08:00" (Spanish puts its words around the
    time differently for each)."""
    when = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    hhmm = when.strftime("%H:%M")
    if when.date() == today:
        return _("until {time}", time=hhmm)
    if when.date() == today + timedelta(days=1):
        return _("until tomorrow at {time}", time=hhmm)
    return _("until {day} at {time}", day=day_label(when), time=hhmm)


def day_label(day: datetime) -> str:
    """A short day for the merchant: "lun 30/11"."""
    names = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
    return f"{names[day.weekday()]} {day.day:02d}/{day.month:02d}"


def pause_choices(now: float | None = None) -> list[Choice]:
    t = time.time() if now is None else now
    morning = tomorrow_morning(datetime.fromtimestamp(t))
    return [
        (_("For &30 minutes"), t + 1800),
        (_("For &1 hour"), t + 3600),
        (_("For &2 hours"), t + 7200),
        (_("Until &tomorrow at {time}", time=morning.strftime("%H:%M")), morning.timestamp()),
        (_("Until I &resume it"), None),
    ]


def mute_choices(now: float | None = None) -> list[Choice]:
    t = time.time() if now is None else now
    morning = tomorrow_morning(datetime.fromtimestamp(t))
    return [
        (_("For &1 hour"), t + 3600),
        (_("For &2 hours"), t + 7200),
        (_("For &4 hours"), t + 4 * 3600),
        (_("Until &tomorrow at {time}", time=morning.strftime("%H:%M")), morning.timestamp()),
    ]


def in_quiet_hours(now: datetime, start: str, end: str) -> bool:
    """Whether local time `now` falls between `start` and `end` ("HH:MM"; the range may
    cross midnight; the end itself is outside). Empty times: no quiet hours."""
    if not start or not end:
        return False

    def minutes(hhmm: str) -> int:
        h, m = hhmm.split(":")
        return int(h) * 60 + int(m)

    a, b, t = minutes(start), minutes(end), now.hour * 60 + now.minute
    if a == b:
        return False
    return a <= t < b if a < b else t >= a or t < b


class ChoiceMenu(QMenu):
    """A menu of times (a pause's or a mute's end), rebuilt each time it opens."""

    chosen = Signal(object)  # the end (float), or None

    def __init__(self, choices: Callable[[], list[Choice]], name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self._choices = choices
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        self.clear()
        for text, until in self._choices():
            action = QAction(text, self)
            action.triggered.connect(lambda _c=False, u=until: self.chosen.emit(u))
            self.addAction(action)


class MenuKeys(QObject):
    """A split button's menu by keyboard, as Windows opens a drop-down: Alt+Down, Down or
    F4 on the focused button (QToolButton opens it only with the mouse)."""

    def __init__(self, button: QToolButton) -> None:
        super().__init__(button)
        self.button = button
        button.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.button
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_F4)
            and self.button.menu() is not None
        ):
            self.button.showMenu()
            return True
        return False


class TodayBox(QGroupBox):
    """The overview's "Today": orders in, how many have a problem, the last stock update."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_("Today"), parent)
        self.setObjectName("todayBox")
        form = QFormLayout(self)
        self.orders = QLabel("—")
        self.orders.setObjectName("todayOrders")
        self.problems = QLabel("—")
        self.problems.setObjectName("todayProblems")
        self.stock = QLabel("—")
        self.stock.setObjectName("todayStock")
        self.stock.setWordWrap(True)
        form.addRow(_("Orders in:"), self.orders)
        form.addRow(_("With problems:"), self.problems)
        form.addRow(_("Last stock update:"), self.stock)

    def set_today(self, t: Today) -> None:
        self.orders.setText(str(t.orders))
        self.problems.setText(
            _("{n} (see the Errors tab)", n=t.orders_with_errors)
            if t.orders_with_errors
            else _("none")
        )
        if t.last_stock_update_at is None:
            self.stock.setText(_("none yet"))
        else:
            self.stock.setText(
                plural(
                    t.last_stock_update_items,
                    _("{when} — {n} product"),
                    _("{when} — {n} products"),
                    when=ago(t.last_stock_update_at),
                )
            )
