"""The Qt (qtpy + pyqtgraph) viewer: live LR beside SR."""
