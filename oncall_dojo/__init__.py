"""oncall-dojo: get paged by a simulated backend that really misbehaves."""

__version__ = "0.1.0"
