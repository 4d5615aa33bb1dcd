"""Everything that touches a microscope: pymmcore-plus facade and the simulated rig."""
