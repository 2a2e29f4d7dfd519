"""Inputs: widget values and connected media → the checked request body, and the
fingerprint that identifies those inputs."""
