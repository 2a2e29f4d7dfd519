"""The lowest layer: errors, settings, the clock, atomic files, and the interfaces (host,
reporter) the layers above receive rather than import."""
