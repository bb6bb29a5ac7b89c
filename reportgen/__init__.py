"""reportgen: CNN assignment reports from a manifest and real training runs."""

__version__ = "0.1.0"
