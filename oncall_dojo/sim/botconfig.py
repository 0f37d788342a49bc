"""Deploy bots as an incident declares them (`system.deploy_bots`): timed rollouts and a
desired state a GitOps controller keeps (see `components/deploybot.py`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = bool | int | float | str
AUTOMATION_NAME = r"^[a-z][a-z0-9-]*$"
"""An automation's name, as `freeze` and `thaw` take it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class BotRollout(_Model):
    """A change a deploy bot makes at a time, and again every `every_s` if given: a version
    rolled out to a service, or a flag or config key set to a value."""

    at: int = Field(ge=0)
    """Simulated second (from the start of the run) at which it is due."""
    every_s: int | None = Field(default=None, ge=60)
    """Due again every so many seconds after `at` (a nightly push); None: once."""
    service: str | None = None
    """`api` or a worker pool to roll `version` out to."""
    version: str | None = None
    """The version it rolls out (with `service`)."""
    percent: int = Field(default=100, ge=1, le=100)
    """The share of the service's replicas it rolls out to (with `service`)."""
    flag: str | None = None
    """A feature flag it sets to `value`."""
    config: str | None = None
    """A runtime config key it sets to `value`."""
    value: Scalar | None = None
    """The value of `flag` or `config`."""
    note: str = ""
    """The note its change carries in the history (a commit message)."""

    @model_validator(mode="after")
    def _one_change(self) -> BotRollout:
        given = [k for k in ("service", "flag", "config") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `service` (with `version`), `flag` or `config`")
        if self.service is not None and self.version is None:
            raise ValueError("`service` needs the `version` it rolls out")
        if self.service is None and self.version is not None:
            raise ValueError("`version` goes with `service`")
        if self.service is None and self.value is None:
            raise ValueError(f"`{given[0]}` needs the `value` it is set to")
        if self.service is not None and self.value is not None:
            raise ValueError("`value` goes with `flag` or `config`, not `service`")
        return self


class DesiredState(_Model):
    """What a GitOps controller keeps the system at: whatever differs when it syncs is put back."""

    versions: dict[str, str] = {}
    """The version each service (`api` or a worker pool) should run."""
    flags: dict[str, Scalar] = {}
    """Feature flags and their values."""
    config: dict[str, Scalar] = {}
    """Runtime config keys and their values."""


class DeployBotConfig(_Model):
    """A deploy bot: a pipeline that rolls out at set times, or a GitOps controller that puts
    back what differs from its desired state. An automation: `freeze NAME` stops it, `thaw NAME`
    lets it act again on what it then finds."""

    author: str = Field(default="deploy-bot", pattern=r"^[a-z][a-z0-9_.-]*$")
    """The author of its changes in the history, and of its log lines."""
    rollouts: list[BotRollout] = []
    """Changes it makes at set times; one due while it is frozen waits until it is thawed."""
    desired: DesiredState | None = None
    """The state it keeps the system at, synced every `sync_every_s` (None: it only rolls out)."""
    sync_every_s: int = Field(default=180, ge=10)
    """Seconds between syncs against `desired` (Argo CD's default is three minutes)."""
    frozen: bool = False
    """Frozen at the start (a change freeze already in place)."""
