"""The simulated rig: Python device adapters for pymmcore-plus UniMMCore."""
