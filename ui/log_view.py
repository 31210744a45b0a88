"""The live log: follows new events, filters by level and pipeline, searches, copies and
exports. Bounded: the newest MAX_ROWS events are kept in the view (all of them are in the
state file and the log files)."""

from __future__ import annotations

import csv
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from bridge.events import Event
from bridge.status import EventRecord
from ui.i18n import _
from ui.texts import event_text, level_name, pipeline_name

MAX_ROWS = 10000
LEVEL_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3}
ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class LogRow:
    ts: float
    level: str
    pipeline: str
    code: str
    text: str  # in the UI's language
    detail: str  # the engine's own text
    data: dict[str, Any]

    @classmethod
    def from_event(cls, e: Event) -> LogRow:
        return cls(
            e.ts,
            e.level,
            e.pipeline,
            e.code,
            event_text(e.code, e.data, e.message),
            e.message,
            e.data,
        )

    @classmethod
    def from_record(cls, e: EventRecord) -> LogRow:
        data = dict(e.data)
        return cls(
            e.ts, e.level, e.pipeline, e.code, event_text(e.code, data, e.message), e.message, data
        )


class LogModel(QAbstractTableModel):
    COLUMNS = ("time", "level", "pipeline", "message")

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        super().__init__()
        self.rows: deque[LogRow] = deque()
        self.max_rows = max_rows

    def headers(self) -> list[str]:
        return [_("Time"), _("Level"), _("Process"), _("Message")]

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers()[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return time.strftime("%d/%m %H:%M:%S", time.localtime(row.ts))
            if col == 1:
                return level_name(row.level)
            if col == 2:
                return pipeline_name(row.pipeline)
            return row.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.text  # the whole line; the engine's own text is in a copy or export
        if role == Qt.ItemDataRole.ForegroundRole and col in (1, 3):
            if row.level == "error":
                return QBrush(QColor("#C62828"))
            if row.level == "warning":
                return QBrush(QColor("#B26A00"))
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def add(self, rows: list[LogRow]) -> None:
        if not rows:
            return
        overflow = len(self.rows) + len(rows) - self.max_rows
        if overflow > 0:
            drop = min(overflow, len(self.rows))
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            for _i in range(drop):
                self.rows.popleft()
            self.endRemoveRows()
            rows = rows[-self.max_rows :]
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()


class LogFilter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.min_level = "info"
        self.pipeline = ""
        self.text = ""

    def set_filters(
        self, *, min_level: str | None = None, pipeline: str | None = None, text: str | None = None
    ) -> None:
        self.beginFilterChange()
        if min_level is not None:
            self.min_level = min_level
        if pipeline is not None:
            self.pipeline = pipeline
        if text is not None:
            self.text = text.strip().lower()
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        assert isinstance(model, LogModel)
        row = model.rows[source_row]
        if LEVEL_RANK.get(row.level, 1) < LEVEL_RANK[self.min_level]:
            return False
        if self.pipeline and row.pipeline != self.pipeline:
            return False
        if self.text:
            hay = f"{row.text}\n{row.detail}\n{' '.join(map(str, row.data.values()))}".lower()
            return self.text in hay
        return True


class LogView(QWidget):
    orderRequested = Signal(str)  # a store order's id, to open its detail
    historySearchRequested = Signal(str)  # the search's text, looked for in the whole history

    def __init__(self) -> None:
        super().__init__()
        self.model = LogModel()
        self.proxy = LogFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setObjectName("logTable")
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the next control
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.doubleClicked.connect(self._open_order)

        self.level = QComboBox()
        self.level.setObjectName("logLevel")
        for value, label in (
            ("info", _("All")),
            ("warning", _("Warnings and errors")),
            ("error", _("Errors only")),
            ("debug", _("Everything (debug)")),
        ):
            self.level.addItem(label, value)
        self.pipeline = QComboBox()
        self.pipeline.setObjectName("logPipeline")
        self.pipeline.addItem(_("All processes"), "")
        for p in ("orders", "catalog", "engine", "config"):
            self.pipeline.addItem(pipeline_name(p), p)
        self.search = QLineEdit()
        self.search.setObjectName("logSearch")
        self.search.setPlaceholderText(_("Search (order number, SKU, text)"))
        self.search.setClearButtonEnabled(True)
        # the view keeps the newest events: the whole history is searched in the state file
        self.history_btn = QPushButton(_("Search all history"))
        self.history_btn.setObjectName("logHistorySearch")
        self.history_btn.setToolTip(
            _("This list keeps the latest events; look for this text in every order Bridge took")
        )
        self.history_btn.clicked.connect(
            lambda: self.historySearchRequested.emit(self.search.text().strip())
        )
        self.follow = QCheckBox(_("Follow new events"))
        self.follow.setChecked(True)
        copy = QPushButton(_("Copy"))
        copy.clicked.connect(self.copy_selection)
        export = QPushButton(_("Export…"))
        export.setObjectName("logExport")
        export.clicked.connect(self.export)

        self.level.currentIndexChanged.connect(
            lambda: self.proxy.set_filters(min_level=self.level.currentData())
        )
        self.pipeline.currentIndexChanged.connect(
            lambda: self.proxy.set_filters(pipeline=self.pipeline.currentData())
        )
        self.search.textChanged.connect(lambda t: self.proxy.set_filters(text=t))

        bar = QHBoxLayout()
        bar.addWidget(self.level)
        bar.addWidget(self.pipeline)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.history_btn)
        bar.addWidget(self.follow)
        bar.addWidget(copy)
        bar.addWidget(export)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self._dialog: QFileDialog | None = None

    def add_event(self, event: Event) -> None:
        self.model.add([LogRow.from_event(event)])
        if self.follow.isChecked():
            self.table.scrollToBottom()

    def load(self, rows: list[EventRecord]) -> None:
        self.model.add([LogRow.from_record(r) for r in rows])
        self.table.scrollToBottom()

    def show_matching(self, text: str) -> None:
        self.level.setCurrentIndex(self.level.findData("debug"))
        self.pipeline.setCurrentIndex(0)
        self.search.setText(text)

    def _open_order(self, index: QModelIndex) -> None:
        row = self.proxy.data(index, Qt.ItemDataRole.UserRole)
        if isinstance(row, LogRow) and row.data.get("order"):
            self.orderRequested.emit(str(row.data["order"]))

    def visible_rows(self) -> list[LogRow]:
        return [
            self.proxy.data(self.proxy.index(r, 0), Qt.ItemDataRole.UserRole)
            for r in range(self.proxy.rowCount())
        ]

    def _lines(self, rows: list[LogRow]) -> str:
        return "\n".join(
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.ts))}\t{level_name(r.level)}"
            f"\t{pipeline_name(r.pipeline)}\t{r.text}"
            for r in rows
        )

    def copy_selection(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        picked = [self.proxy.data(self.proxy.index(r, 0), Qt.ItemDataRole.UserRole) for r in rows]
        QGuiApplication.clipboard().setText(self._lines(picked or self.visible_rows()))

    def export(self) -> None:
        # open(), not exec(): this runs inside the asyncio loop (qasync)
        dialog = QFileDialog(self, _("Export log"), "bridge-log.csv", "CSV (*.csv)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.fileSelected.connect(self.export_to)
        self._dialog = dialog
        dialog.open()

    def export_to(self, path: str) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["time", "level", "process", "message", "detail"])
            for r in self.visible_rows():
                w.writerow(
                    [
                        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.ts)),
                        r.level,
                        r.pipeline,
                        r.text,
                        r.detail,
                    ]
                )
