"""Start-up time of the built tray app: from process start to the log line that says the UI
is up ("main window shown (no system tray)" offscreen, "tray icon shown" on a desktop with
a tray), running the demo profile in a temporary data dir. The process is then stopped.

    python build/linux/measure_startup.py dist/bridge/bridge [--tray] [--runs 3]

--tray runs it on Xvfb with a real tray host (tests/xdisplay.py: needs xvfb and trayer).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def once(exe: str, env: dict[str, str], line: str, timeout: float = 60.0) -> float:
    with tempfile.TemporaryDirectory(prefix="bridge-startup-") as tmp:
        log = Path(tmp) / "demo" / "logs" / "bridge.log"
        start = time.monotonic()
        proc = subprocess.Popen(
            [exe, "--data-dir", tmp, "demo"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            while True:
                elapsed = time.monotonic() - start
                if log.exists() and line in log.read_text(errors="replace"):
                    return elapsed
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise SystemExit(
                        f"{exe} exited with {proc.returncode} before '{line}':\n{err[-2000:]}"
                    )
                if elapsed > timeout:
                    raise SystemExit(f"no '{line}' in {log} within {timeout} s")
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--tray", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    display: AbstractContextManager[dict[str, str]]
    if args.tray:
        sys.path.insert(0, str(ROOT))
        from tests.xdisplay import real_tray_display

        display = real_tray_display()
        line = "tray icon shown"
    else:
        display = nullcontext(dict(os.environ, QT_QPA_PLATFORM="offscreen"))
        line = "main window shown (no system tray)"
    with display as env:
        times = [once(args.exe, env, line) for _ in range(args.runs)]
    print(
        f"start-up to '{line}': median {statistics.median(times):.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
