"""Orchestra: a self-hosted hub that runs coding-agent CLIs as a supervised DAG."""

from orchestra.core.version import __version__

__all__ = ["__version__"]
