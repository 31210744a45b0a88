"""Entry point of the PyInstaller bundle (bridge.spec): the `bridge` command, frozen.

bridge               the tray app (as `bridge` from the venv: launcher.main)
bridge --selftest    offscreen end-to-end check of the build (exit 0/1; see
                     launcher/selftest.py), used by build/linux/build.sh and CI
bridge-cli ...       (Windows/macOS) the same program with a console, for the CLI
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    # a windowed executable (Windows) has no stdout/stderr: printing must not fail there
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    from launcher import main as launcher_main

    return launcher_main()


if __name__ == "__main__":
    sys.exit(main())
