"""Scorestream: real-time contact scoring on Kafka."""

__version__ = "0.1.0"
