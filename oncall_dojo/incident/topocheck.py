"""Checks of the system's automation and hosts against the rest of the system: every service,
pool, flag and host they name exists (an unknown name is told with the closest one), and every
automation and host name is taken once."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from oncall_dojo.sim.components.autoscaler import autoscaler_name
from oncall_dojo.sim.config import SystemConfig

Loc = tuple[str | int, ...]


def unknown(
    loc: Loc, what: str, value: str, known: Collection[str], plural: str, where: str = ""
) -> list:
    """An error at `loc` when `value` is not among `known`, naming the closest one (`where`
    says where it was looked for: " in postgres")."""
    if value in known:
        return []
    close = difflib.get_close_matches(value, list(known), n=1)
    tip = f" (did you mean {close[0]!r}?)" if close else ""
    return [(loc, f"no {what} {value!r}{where}{tip}; {plural}: {', '.join(known) or 'none'}")]


def check_topology(cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """Located errors in `system.deploy_bots` and the pools' `hosts`."""
    errors = _hosts(cfg)
    if not cfg.deploy_bots:
        return errors
    services = ["api", *cfg.workers]
    taken = {autoscaler_name(n) for n, p in cfg.workers.items() if p.autoscale is not None}
    for name, bot in cfg.deploy_bots.items():
        here: Loc = ("system", "deploy_bots", name)
        if name in taken:
            errors.append(
                (here, f"{name!r} is the name of a pool's autoscaler; name the bot otherwise")
            )
        for i, r in enumerate(bot.rollouts):
            at: Loc = (*here, "rollouts", i)
            if r.service is not None:
                errors += unknown((*at, "service"), "service", r.service, services, "services")
            if r.flag is not None:
                errors += unknown((*at, "flag"), "flag", r.flag, cfg.flags, "flags in system.flags")
        if bot.desired is not None:
            at = (*here, "desired")
            for svc in bot.desired.versions:
                errors += unknown((*at, "versions", svc), "service", svc, services, "services")
            for flag in bot.desired.flags:
                errors += unknown(
                    (*at, "flags", flag), "flag", flag, cfg.flags, "flags in system.flags"
                )
    return errors


def _hosts(cfg: SystemConfig) -> list[tuple[Loc, str]]:
    errors: list[tuple[Loc, str]] = []
    seen: dict[str, str] = {}
    for pool, p in cfg.workers.items():
        if not p.hosts:
            continue
        here: Loc = ("system", "workers", pool)
        for name, h in p.hosts.items():
            if cfg.sites and h.site is not None:  # declared sites: a host's is one of them
                errors += unknown(
                    (*here, "hosts", name, "site"), "site", h.site, list(cfg.sites), "sites"
                )
            if name in seen:
                errors.append(
                    (
                        (*here, "hosts", name),
                        f"host {name!r} is already in pool {seen[name]!r}; a host belongs to one pool",
                    )
                )
            seen.setdefault(name, pool)
    return errors


def host_errors(loc: Loc, pool: str, hosts: list[str], cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """Every host named must be one of the pool's."""
    if pool not in cfg.workers:
        return []
    known = list(cfg.workers[pool].hosts)
    errors: list[tuple[Loc, str]] = []
    for i, name in enumerate(hosts):
        errors += unknown((*loc, i), f"host of {pool}", name, known, f"hosts of {pool}")
    return errors


def all_hosts(cfg: SystemConfig) -> list[str]:
    return [h for p in cfg.workers.values() for h in p.hosts]
