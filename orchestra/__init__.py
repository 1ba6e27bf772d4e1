"""Orchestra: a self-hosted hub that runs coding-agent CLIs as a supervised DAG."""

__version__ = "0.1.0"
