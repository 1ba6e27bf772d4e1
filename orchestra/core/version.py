"""The version of the hub, its clients and its API (``/health`` says it)."""

__version__ = "0.1.0"
