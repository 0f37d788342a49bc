"""Errors of the incident folders, importable without loading the incident models."""

from __future__ import annotations


class PackError(Exception):
    """The incident folders cannot be used as they are (an id in two files, a bad config file)."""
