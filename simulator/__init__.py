"""A RunComfy-compatible Model API simulator (real HTTP on loopback, real media)."""
from .jobs import Clock
from .server import Fault, Simulator

__all__ = ["Simulator", "Fault", "Clock"]
