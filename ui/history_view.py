"""History: recent runs with durations and counts, and two small charts (orders sent per
day, catalog sync durations), drawn with QPainter (Qt Charts is not in PySide6-Essentials)."""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
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


class BarChart(QWidget):
    def __init__(self, color: str, unit: str = "") -> None:
        super().__init__()
        self.color = QColor(color)
        self.unit = unit
        self.values: list[tuple[str, float]] = []
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_values(self, values: list[tuple[str, float]]) -> None:
        self.values = values
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        w, h = self.width(), self.height()
        left, bottom, top = 36, 22, 10
        plot_w, plot_h = max(1, w - left - 8), max(1, h - bottom - top)
        p.setPen(QPen(text, 1))
        p.drawLine(left, top + plot_h, left + plot_w, top + plot_h)
        if not self.values:
            p.drawText(QRectF(0, 0, w, h), Qt.AlignmentFlag.AlignCenter, _("No data yet"))
            return
        peak = max(v for _l, v in self.values) or 1.0
        p.drawText(
            QRectF(0, top - 6, left - 4, 14), Qt.AlignmentFlag.AlignRight, _fmt(peak) + self.unit
        )
        p.drawText(QRectF(0, top + plot_h - 8, left - 4, 14), Qt.AlignmentFlag.AlignRight, "0")
        n = len(self.values)
        slot = plot_w / n
        bar_w = max(2.0, slot * 0.7)
        step = max(1, n // 7)
        for i, (label, value) in enumerate(self.values):
            bh = plot_h * value / peak
            x = left + i * slot + (slot - bar_w) / 2
            p.fillRect(QRectF(x, top + plot_h - bh, bar_w, bh), self.color)
            if i % step == 0:
                p.drawText(
                    QRectF(left + i * slot - 10, top + plot_h + 4, slot + 20, 16),
                    Qt.AlignmentFlag.AlignHCenter,
                    label,
                )
        p.end()


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


class HistoryView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.orders_chart = BarChart("#1E6FD9")
        self.orders_chart.setObjectName("ordersChart")
        self.durations_chart = BarChart("#2E7D32", " s")
        self.durations_chart.setObjectName("durationsChart")
        charts = QHBoxLayout()
        g1 = QGroupBox(_("Orders sent to the ERP per day"))
        QVBoxLayout(g1).addWidget(self.orders_chart)
        g2 = QGroupBox(_("Stock and price sync duration (last runs)"))
        QVBoxLayout(g2).addWidget(self.durations_chart)
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
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addLayout(charts)
        layout.addWidget(self.table, 1)

    def set_history(self, history: History) -> None:
        per_day = history.orders_per_day
        self.orders_chart.set_values([(d[8:10] + "/" + d[5:7], float(n)) for d, n in per_day])
        runs = [r for r in history.runs if r.finished_at]
        durations = [r for r in runs if r.pipeline == "catalog"][:30][::-1]
        self.durations_chart.set_values(
            [
                (time.strftime("%H:%M", time.localtime(r.started_at)), r.duration_s or 0.0)
                for r in durations
            ]
        )
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
