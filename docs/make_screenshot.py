"""Render ``docs/viewer.png``: the viewer on the simulated rig, zoomed in (viewport SR).

``python docs/make_screenshot.py [--model live_fluo] [--out docs/viewer.png]`` (offscreen)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="live_fluo")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("viewer.png"))
    ap.add_argument("--width", type=int, default=1200)
    args = ap.parse_args()

    from qtpy import QtCore, QtWidgets

    from sr_engine.bundled import bundled_models, resolve_model
    from ui.app import prepare_rig
    from ui.viewer import ViewerSettings, ViewerWindow, wait_for

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    model = resolve_model(args.model)
    scope = prepare_rig(None, model)
    try:
        scope.set_centered_roi(512)
        window = ViewerWindow(
            scope,
            ViewerSettings(model=model, out_dir=Path("srscope_out")),
            models=bundled_models(),
        )
        window.resize(1500, 900)
        window.show()
        wait_for(lambda: window.sr_shown >= 3, 60)
        window.lr_pane.zoom_to((200, 200, 330, 330))
        wait_for(lambda: window.region_shown >= 2, 60)
        wait_for(lambda: False, 1.0)
        window.update_status()
        pixmap = window.grab().scaledToWidth(
            args.width, QtCore.Qt.TransformationMode.SmoothTransformation
        )
        pixmap.save(str(args.out), "PNG")
        print(f"{args.out}: {pixmap.width()}x{pixmap.height()}")
        window.close()
        window.shutdown()
    finally:
        scope.close()
    app.processEvents()


if __name__ == "__main__":
    main()
