"""Koubei Sentinel stream processing: schema, configuration, scoring, buckets, detection."""

__version__ = "0.1.0"
