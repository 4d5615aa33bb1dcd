"""Specimen images of the simulated rig (a package so the files ship with it)."""
