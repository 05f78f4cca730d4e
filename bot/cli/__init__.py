"""Launchers of the processes `make run` starts, and the periodic-job runner."""
