"""Automation: autoscalers and deploy bots act by themselves, and do nothing while frozen.

A frozen autoscaler leaves a pool as it is under a backlog that makes a thawed one scale it up;
a frozen deploy bot neither rolls out what comes due nor puts back what a player changed, and
thawed, it acts on what it then finds. Freezing and thawing are console commands recorded in
the change history with their author."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from oncall_dojo.game.commands import names
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.sim import ops
from oncall_dojo.sim.errors import Refusal

from .simkit import run, system

BACKLOG: dict[str, Any] = {
    "queues": {"thumbnails": {"kind": "generic", "objective_s": 3600, "producer_rps": 30}},
    "workers": {
        "thumbnails": {
            "queue": "thumbnails",
            "replicas": 2,
            "service_s": 0.8,
            "version": "v1",
            "autoscale": {"min_replicas": 2, "max_replicas": 30, "target_per_replica": 20},
        }
    },
}


def test_the_autoscaler_is_registered_as_automation() -> None:
    s = system(BACKLOG)
    a = s.automation.get("thumbnails-autoscaler")
    assert a is not None and (a.kind, a.target, a.frozen) == (
        "autoscaler",
        "workers:thumbnails",
        False,
    )
    assert s.automation.get("billing-autoscaler") is None  # billing has no autoscaler


def test_a_frozen_autoscaler_does_not_scale_under_a_backlog_a_thawed_one_scales_for() -> None:
    thawed = system(BACKLOG)
    frozen = system(BACKLOG)
    ops.freeze(frozen, "thumbnails-autoscaler", "alice")
    run(thawed, 300)
    run(frozen, 300)
    assert len(thawed.pools["thumbnails"].live) > 10
    assert thawed.automation.named("thumbnails-autoscaler").last.startswith("scaled thumbnails")
    assert len(frozen.pools["thumbnails"].live) == 2
    assert frozen.queues["thumbnails"].depth > 20 * 10  # a backlog it would have scaled for
    assert frozen.automation.named("thumbnails-autoscaler").last_at is None

    ops.thaw(frozen, "thumbnails-autoscaler", "alice")
    run(frozen, 16)  # its next evaluation, on the backlog it now sees
    assert len(frozen.pools["thumbnails"].live) == 30
    assert [(c.kind, c.target, c.after, c.author) for c in frozen.changes[-2:]] == [
        ("freeze", "thumbnails-autoscaler", "frozen", "alice"),
        ("thaw", "thumbnails-autoscaler", "active", "alice"),
    ]


def test_freezing_twice_or_an_unknown_name_is_refused_with_the_closest_name() -> None:
    s = system(BACKLOG)
    ops.freeze(s, "thumbnails-autoscaler", "alice")
    with pytest.raises(Refusal, match="already frozen"):
        ops.freeze(s, "thumbnails-autoscaler", "bob")
    with pytest.raises(Refusal, match="did you mean 'thumbnails-autoscaler'"):
        ops.thaw(s, "thumbnail-autoscaler", "bob")
    ops.thaw(s, "thumbnails-autoscaler", "bob")
    with pytest.raises(Refusal, match="not frozen"):
        ops.thaw(s, "thumbnails-autoscaler", "bob")
    with pytest.raises(Refusal, match="no automation"):
        ops.freeze(system(), "anything", "bob")


GITOPS: dict[str, Any] = {
    "flags": {"checkout.new_tax": False},
    "versions": {"billing": {"v2.8.2": {}}},
    "deploy_bots": {
        "argocd": {
            "author": "argocd",
            "desired": {"versions": {"billing": "v2.8.3"}, "flags": {"checkout.new_tax": True}},
            "sync_every_s": 60,
        }
    },
}


def test_a_gitops_bot_puts_back_a_rollback_unless_it_is_frozen() -> None:
    thawed = system(GITOPS)
    frozen = system(GITOPS)
    for s in (thawed, frozen):
        run(s, 5)
        ops.deploy(s, "billing", "v2.8.2", "alice")
    ops.freeze(frozen, "argocd", "alice")
    run(thawed, 60)
    run(frozen, 60)
    assert thawed.pools["billing"].version == "v2.8.3"
    assert {r.version for r in thawed.pools["billing"].live} == {"v2.8.3"}
    assert thawed.flags["checkout.new_tax"] is True
    put_back = [c for c in thawed.changes if c.author == "argocd"]
    assert [(c.kind, c.target, c.after) for c in put_back] == [
        ("deploy", "billing", "v2.8.3"),
        ("flag", "checkout.new_tax", "True"),
    ]
    assert frozen.pools["billing"].version == "v2.8.2"
    assert frozen.flags["checkout.new_tax"] is False
    assert not [c for c in frozen.changes if c.author == "argocd"]

    ops.thaw(frozen, "argocd", "alice")
    run(frozen, 60)  # its next sync
    assert frozen.pools["billing"].version == "v2.8.3"
    assert frozen.automation.named("argocd").last == "set flag checkout.new_tax to True"


PIPELINE: dict[str, Any] = {
    "deploy_bots": {
        "release-train": {
            "rollouts": [
                {"at": 30, "service": "billing", "version": "v2.9.0", "note": "weekly train"},
                {"at": 60, "every_s": 120, "config": "payments.retry.max_attempts", "value": 5},
            ],
        }
    },
}


def test_a_pipeline_rolls_out_on_time_and_a_frozen_one_waits_until_thawed() -> None:
    s = system(PIPELINE)
    run(s, 31)
    assert s.pools["billing"].version == "v2.9.0"
    c = s.changes[-1]
    assert (c.tick, c.kind, c.after, c.author, c.note) == (
        30,
        "deploy",
        "v2.9.0",
        "deploy-bot",
        "weekly train",
    )
    run(s, 30)
    assert s.config["payments.retry.max_attempts"] == 5
    s.config["payments.retry.max_attempts"] = 3  # someone sets it back by hand
    run(s, 120)
    assert s.config["payments.retry.max_attempts"] == 5  # pushed again at 180

    frozen = system(PIPELINE)
    ops.freeze(frozen, "release-train", "alice")
    run(frozen, 200)
    assert frozen.pools["billing"].version == "v2.8.3"
    assert frozen.config["payments.retry.max_attempts"] == 3
    ops.thaw(frozen, "release-train", "alice")
    run(frozen, 1)
    assert frozen.pools["billing"].version == "v2.9.0"  # the rollouts that came due run at once
    assert frozen.config["payments.retry.max_attempts"] == 5
    assert [c.tick for c in frozen.changes if c.author == "deploy-bot"] == [200, 200]


def test_a_bot_that_starts_frozen_is_listed_frozen() -> None:
    s = system(
        {
            "versions": {"api": {"v3.40.0": {}}},
            "deploy_bots": {
                "argocd": {"frozen": True, "desired": {"versions": {"api": "v3.41.0"}}}
            },
        }
    )
    a = s.automation.named("argocd")
    assert a.frozen and a.target == "api"
    ops.deploy(s, "api", "v3.40.0", "alice")
    run(s, 400)
    assert s.api_version == "v3.40.0" and a.actions == 0
    ops.thaw(s, "argocd", "alice")
    run(s, 180)
    assert s.api_version == "v3.41.0" and a.last == "rolled out api v3.41.0"


def cloud_spend() -> Session:
    inc = load_checked(Path(bundled_dir()) / "cloud-spend-spike.yaml")
    return Session(inc, 1)


def test_the_console_freezes_thaws_lists_and_completes_automation() -> None:
    s = cloud_spend()
    assert names("automation", s) == ["thumbnails-autoscaler"]
    out = perform(s, "automation").output
    assert "thumbnails-autoscaler" in out and "active" in out and "workers:thumbnails" in out
    e = perform(s, "freeze thumbnails-autoscaler")
    assert e.kind == "act" and "frozen" in e.output
    assert "FROZEN" in perform(s, "automation").output
    assert "FROZEN" in perform(s, "autoscale thumbnails").output
    assert "will set the count again" not in perform(s, "scale thumbnails 3").output
    assert perform(s, "freeze thumbnails-autoscaler").kind == "refused"
    assert "did you mean" in perform(s, "thaw thumbnail-autoscaler").output
    assert "freeze" in perform(s, "deploys").output
    assert perform(s, "thaw thumbnails-autoscaler").kind == "act"
    assert "freeze NAME" in perform(s, "help freeze").output


def test_the_guides_automation_example_is_valid() -> None:
    """The deploy bots of docs/authoring.md validate and act as the guide says."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text(
        encoding="utf-8"
    )
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("system:\n  deploy_bots:")]
    overrides = yaml.safe_load(body)["system"]
    overrides["versions"] = {"billing": {"v2.8.4": {}}, "api": {"v3.42.0": {}}}
    s = system(overrides)
    assert [a.name for a in s.automation] == ["argocd", "release-train"]
    run(s, 181)
    assert s.pools["billing"].version == "v2.8.4"  # put to the desired version at its first sync
    ops.freeze(s, "release-train", "alice")
    run(s, 1200)
    assert s.api_version == "v3.41.0"
    ops.thaw(s, "release-train", "alice")
    run(s, 1)
    assert s.api_version == "v3.42.0"
