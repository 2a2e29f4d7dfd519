"""PyAV helpers shared by the inputs and the results layers (sound in and out)."""
