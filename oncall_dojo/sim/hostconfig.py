"""Named hosts of a worker pool as an incident declares them (`system.workers.POOL.hosts`;
see `components/hosts.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


HostState = Literal["ready", "not_ready", "cordoned", "drained", "down"]
HOST_NAME = r"^[a-z][a-z0-9-]*$"
"""A host's name (`billing-h1`, `ip-10-0-3-17`)."""


class HostConfig(_Model):
    """A named machine of a worker pool. It runs one of the pool's processes while it is up
    and schedulable: `ready` (serving), `not_ready` (up, but failing its health checks: its
    process takes no work and what it held is redelivered), `cordoned` (its process keeps
    running, but nothing new is started on it), `drained` (cordoned and its process evicted)
    or `down` (off: its process is gone)."""

    site: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]*$")
    """The site (zone or region) it is in, by name (`eu-west-1a`): one of `system.sites` when the
    incident declares them."""
    version: str | None = None
    """The version installed on it (default: the pool's `version`): a host that missed a
    release runs the old one, restarts included, until a full rollout of the pool installs
    the new one on every host."""
    state: HostState = "ready"
    """Its state at the start."""
    disk_gb: float = Field(default=100.0, gt=0)
    """Size of its root volume."""
    disk_used_gb: float = Field(default=40.0, ge=0)
    """Space used at the start. When the volume is full, its process crashes (`no space left
    on device`) and keeps crashing until space is freed."""

    @model_validator(mode="after")
    def _fits(self) -> HostConfig:
        if self.disk_used_gb > self.disk_gb:
            raise ValueError(
                f"`disk_used_gb` ({self.disk_used_gb:g}) is above `disk_gb` ({self.disk_gb:g})"
            )
        return self
