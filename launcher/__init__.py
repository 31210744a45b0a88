"""The composition root: the `bridge` command (`[project.scripts]`, the bundle's
build/entry.py, `python -m launcher`).

It is the one module that puts Bridge together: it registers the connectors, decides
between the tray app and the headless commands (bridge.cli parses the command line and runs
the headless ones), and composes what needs everything at once: the demo (simulators, the
engine, the UI; launcher.demo), the bundle's self-test (launcher.selftest) and the
screenshots tool (`python -m launcher.screenshots`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import connectors
from bridge.config import Paths

# the composition root's first job, done on import so that every entry into it (the
# `bridge` command, `python -m launcher.screenshots`, a test importing launcher.demo) finds
# the connectors registered; registering again is harmless
connectors.register()


class Launcher:
    """The commands of bridge.cli that need the UI or the simulators (bridge.cli.Frontend)."""

    def tray_app(self, paths: Paths) -> int:
        from launcher.demo import demo_starter
        from ui.app import main as ui_main

        return ui_main(paths, demo_starter=demo_starter())

    def demo(
        self,
        paths: Paths,
        *,
        headless: bool,
        duration: float | None = None,
        variants: int = 2000,
        verbose: bool = False,
    ) -> int:
        from launcher.demo import run_demo

        return run_demo(
            paths, headless=headless, duration=duration, variants=variants, verbose=verbose
        )

    def selftest(self, timeout_s: float) -> int:
        from launcher.selftest import run_selftest

        return run_selftest(timeout_s=timeout_s)

    def demo_available(self) -> bool:
        from launcher.demo import demo_installed

        return demo_installed()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--selftest" in args or args[:1] == ["selftest"]:
        # before Qt is imported anywhere: the self-test never needs a display
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from bridge.cli import main as cli_main

    return cli_main(argv, frontend=Launcher())
