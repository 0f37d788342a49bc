"""Deploy bots: a pipeline that rolls out at set times, or a GitOps controller that puts back
what differs from its desired state (a player's rollback, a flag turned off by hand).

Each is an automation in the system's registry under its name. Frozen, it does nothing: a
rollout that comes due waits, and drift stays. Thawed, it acts on what it then finds: the
rollouts due meanwhile run at once, and its next sync puts back whatever differs.
"""

from __future__ import annotations

from typing import Any, Protocol

from oncall_dojo.sim.automation import Automation, Automations
from oncall_dojo.sim.botconfig import BotRollout, DeployBotConfig, Scalar
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logs import INFO


class System(Protocol):
    """What a deploy bot acts through: the system's deploy verb, flags, config and history."""

    api_version: str
    pools: dict[str, Any]
    flags: dict[str, Any]
    config: dict[str, Any]

    def deploy(
        self, t: int, service: str, version: str, author: str, percent: int = 100, note: str = ""
    ) -> None: ...

    def record_change(
        self, t: int, kind: str, target: str, before: str, after: str, author: str, note: str = ""
    ) -> None: ...

    def log(self, t: int, ms: int, service: str, level: int, text: str) -> None: ...


class DeployBot:
    def __init__(self, sys: System, name: str, cfg: DeployBotConfig, registry: Automations) -> None:
        self.sys = sys
        self.name = name
        self.cfg = cfg
        targets = sorted(
            {r.service or r.flag or r.config or "" for r in cfg.rollouts}
            | set(cfg.desired.versions if cfg.desired else ())
            | set(cfg.desired.flags if cfg.desired else ())
            | set(cfg.desired.config if cfg.desired else ())
        )
        self.entry: Automation = registry.add(
            name, "deploy-bot", ", ".join(targets) or "nothing", frozen=cfg.frozen
        )
        self.due: list[int | None] = [r.at for r in cfg.rollouts]
        """When each rollout is next due (None: done)."""

    def tick(self, t: int) -> None:
        if self.entry.frozen:
            return
        for i, at in enumerate(self.due):
            if at is not None and at <= t:
                step = self.cfg.rollouts[i]
                self._roll_out(t, step)
                self.due[i] = (
                    None if step.every_s is None else t + step.every_s - (t - at) % step.every_s
                )
        desired = self.cfg.desired
        if desired is not None and t > 0 and t % self.cfg.sync_every_s == 0:
            self._sync(t)

    # ------------------------------------------------------------------ acting
    def _roll_out(self, t: int, step: BotRollout) -> None:
        if step.service is not None:
            assert step.version is not None
            self._deploy(t, step.service, step.version, step.percent, step.note)
        elif step.flag is not None:
            assert step.value is not None
            self._set(t, "flag", step.flag, step.value, step.note)
        elif step.config is not None:
            assert step.value is not None
            self._set(t, "config", step.config, step.value, step.note)

    def _sync(self, t: int) -> None:
        desired = self.cfg.desired
        assert desired is not None
        sys = self.sys
        for svc, want in desired.versions.items():
            if svc == "api":
                drift = sys.api_version != want
            else:
                pool = sys.pools[svc]
                drift = pool.version != want or any(r.version != want for r in pool.live)
            if drift:
                self._deploy(t, svc, want, 100, "sync: put back the desired version")
        for key, value in desired.flags.items():
            if not _same(sys.flags.get(key), value):
                self._set(t, "flag", key, value, "sync: put back the desired value")
        for key, value in desired.config.items():
            if not _same(sys.config.get(key), value):
                self._set(t, "config", key, value, "sync: put back the desired value")

    def _deploy(self, t: int, svc: str, version: str, percent: int, note: str) -> None:
        try:
            self.sys.deploy(t, svc, version, self.cfg.author, percent=percent, note=note)
        except Refusal:
            return  # it already runs there: nothing to do
        self.entry.did(
            t, f"rolled out {svc} {version}" + (f" to {percent}%" if percent < 100 else "")
        )

    def _set(self, t: int, store: str, key: str, value: Scalar, note: str) -> None:
        sys = self.sys
        target = sys.flags if store == "flag" else sys.config
        before = target.get(key)
        if _same(before, value):
            return
        target[key] = value
        sys.record_change(t, store, key, str(before), str(value), self.cfg.author, note)
        sys.log(
            t,
            3,
            "deployer",
            INFO,
            f"{self.name} applied {store} {key}={value} by={self.cfg.author}",
        )
        self.entry.did(t, f"set {store} {key} to {value}")


def _same(a: object, b: object) -> bool:
    return a == b and type(a) is type(b)
