"""History: what the merchant cares about per day (orders sent to the ERP, errors, products
updated in the store) in two charts drawn with QPainter (Qt Charts is not in
PySide6-Essentials), and the recent runs with their durations and counts."""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bridge.status import History
from ui.daily import day_label
from ui.i18n import _
from ui.texts import pipeline_name, run_summary

STATUS_NAMES = {
    "ok": lambda: _("OK"),
    "partial": lambda: _("With errors"),
    "failed": lambda: _("Failed"),
    "running": lambda: _("Running"),
    "interrupted": lambda: _("Interrupted"),
    "skipped": lambda: _("Skipped"),
    "held": lambda: _("On hold"),
}


Series = tuple[str, str, list[int]]  # name (for the legend), colour, one value per day


class BarChart(QWidget):
    """Bars per day, side by side for each series: days as "lun 30/11", a scale of whole
    numbers, and a legend when there is more than one series."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []
        self.label_rects: list[QRectF] = []  # where the last paint wrote the day labels
        self.series: list[Series] = []
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_values(self, labels: list[str], series: list[Series]) -> None:
        self.labels = labels
        self.series = series
        self.update()

    def ticks(self) -> list[int]:
        """The scale: 0 to at least the highest value, in at most 5 whole steps of 1, 2 or
        5 times a power of ten."""
        peak = max((v for _n, _c, values in self.series for v in values), default=0)
        step = 1
        while -(-peak // step) > 5:
            step = _next_step(step)
        top = max(step, -(-peak // step) * step)
        return list(range(0, top + 1, step))

    def paintEvent(self, event: QPaintEvent) -> None:
        self.label_rects = []
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        grid = pal.color(pal.ColorRole.Mid)
        fm = QFontMetrics(self.font())
        line = fm.height()
        w, h = self.width(), self.height()
        ticks = self.ticks()
        left = fm.horizontalAdvance(str(ticks[-1])) + 10
        legend_h = line + 6 if len(self.series) > 1 else 0
        top, bottom = 8 + legend_h, line + 8
        plot_w, plot_h = max(1, w - left - 8), max(1, h - bottom - top)
        if not self.labels or not any(v for _n, _c, values in self.series for v in values):
            p.setPen(QPen(text, 1))
            p.drawText(QRectF(0, 0, w, h), Qt.AlignmentFlag.AlignCenter, _("No data yet"))
            p.end()
            return
        # legend
        x = float(left)
        for name, color, _values in self.series if legend_h else []:
            p.fillRect(QRectF(x, 8 + (line - 10) / 2, 10, 10), QColor(color))
            p.setPen(QPen(text, 1))
            p.drawText(QRectF(x + 14, 8, fm.horizontalAdvance(name) + 4, line), 0, name)
            x += 14 + fm.horizontalAdvance(name) + 18
        # scale: whole numbers, with light lines across
        for t in ticks:
            y = top + plot_h - plot_h * t / ticks[-1]
            p.setPen(QPen(grid, 1))
            p.drawLine(QPointF(left, y), QPointF(left + plot_w, y))
            p.setPen(QPen(text, 1))
            p.drawText(
                QRectF(0, y - line / 2, left - 6, line),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                str(t),
            )
        n = len(self.labels)
        slot = plot_w / n
        group = slot * 0.75
        bar_w = max(2.0, group / max(1, len(self.series)))
        label_w = max(fm.horizontalAdvance(label) for label in self.labels) + 8
        step = max(1, int(label_w // slot) + (1 if label_w % slot else 0))
        for i, label in enumerate(self.labels):
            x0 = left + i * slot + (slot - group) / 2
            for k, (_name, color, values) in enumerate(self.series):
                bh = plot_h * values[i] / ticks[-1]
                p.fillRect(QRectF(x0 + k * bar_w, top + plot_h - bh, bar_w, bh), QColor(color))
            # the last day (today) is always labelled; the others as there is room
            if (n - 1 - i) % step == 0:
                p.setPen(QPen(text, 1))
                # under its bar, but never past the chart's edges (today's, at the right)
                lx = min(max(0.0, left + i * slot + slot / 2 - label_w / 2), w - label_w)
                p.drawText(
                    QRectF(lx, top + plot_h + 4, label_w, line),
                    Qt.AlignmentFlag.AlignHCenter,
                    label,
                )
                self.label_rects.append(QRectF(lx, top + plot_h + 4, label_w, line))
        p.setPen(QPen(text, 1))
        p.drawLine(QPointF(left, top + plot_h), QPointF(left + plot_w, top + plot_h))
        p.end()


def _next_step(step: int) -> int:
    """1, 2, 5, 10, 20, 50, …"""
    digits = str(step)
    return step * 5 // 2 if digits[0] == "2" else step * 2


def day_labels(days: list[str]) -> list[str]:
    """ "2026-11-30" as "lun 30/11"."""
    return [day_label(datetime.strptime(d, "%Y-%m-%d")) for d in days]


class HistoryView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.orders_chart = BarChart()
        self.orders_chart.setObjectName("ordersChart")
        self.stock_chart = BarChart()
        self.stock_chart.setObjectName("stockChart")
        charts = QHBoxLayout()
        g1 = QGroupBox(_("Orders and errors per day"))
        QVBoxLayout(g1).addWidget(self.orders_chart)
        g2 = QGroupBox(_("Products updated in the store per day"))
        QVBoxLayout(g2).addWidget(self.stock_chart)
        charts.addWidget(g1)
        charts.addWidget(g2)
        self.table = QTableWidget(0, 8)
        self.table.setObjectName("runsTable")
        self.table.setHorizontalHeaderLabels(
            [
                _("Start"),
                _("Process"),
                _("Trigger"),
                _("Duration"),
                _("Result"),
                _("Read"),
                _("Done"),
                _("Failed items"),
            ]
        )
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the next control
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addLayout(charts)
        layout.addWidget(self.table, 1)

    def set_history(self, history: History) -> None:
        days = [d for d, _n in history.orders_per_day]
        labels = day_labels(days)
        self.orders_chart.set_values(
            labels,
            [
                (_("Orders sent to the ERP"), "#1E6FD9", [n for _d, n in history.orders_per_day]),
                (
                    _("Errors"),
                    "#C62828",
                    [n for _d, n in history.errors_per_day] or [0] * len(days),
                ),
            ],
        )
        self.stock_chart.set_values(
            labels,
            [
                (
                    _("Products updated"),
                    "#2E7D32",
                    [n for _d, n in history.stock_updates_per_day] or [0] * len(days),
                )
            ],
        )
        runs = [r for r in history.runs if r.finished_at]
        shown = [
            r
            for r in runs
            if r.items_seen
            or r.items_ok
            or r.items_failed
            or r.status != "ok"
            or r.pipeline == "catalog"
        ][:100]
        triggers = {"schedule": _("scheduled"), "manual": _("manual"), "resume": _("after sleep")}
        self.table.setRowCount(len(shown))
        for i, r in enumerate(shown):
            cells = [
                time.strftime("%d/%m %H:%M:%S", time.localtime(r.started_at)),
                pipeline_name(r.pipeline),
                triggers.get(r.trigger, r.trigger),
                f"{(r.finished_at or r.started_at) - r.started_at:.1f} s",
                STATUS_NAMES.get(r.status, lambda r=r: r.status)(),
                str(r.items_seen),
                str(r.items_ok),
                str(r.items_failed),
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(run_summary(r))
                self.table.setItem(i, c, item)
