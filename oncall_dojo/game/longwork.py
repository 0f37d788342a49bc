"""Console commands for work that runs on its own once started: a batch job (`job run`,
`job pause`, `job resume`) and an operation the incident declares (`operation start`,
`operation pause`, `operation resume`). Listed in help right after the other actions."""

from __future__ import annotations

from oncall_dojo.game import views
from oncall_dojo.game.grammar import Handler, Reply, command, need, options, whole
from oncall_dojo.game.session import Session
from oncall_dojo.sim import ops
from oncall_dojo.sim.errors import Refusal


def _job_cmd(verb: str, usage: str) -> Handler:
    def handler(s: Session, args: list[str], by: str) -> Reply:
        args, opts = options(args, {"from"} if verb == "run" else set(), usage)
        need(args, 1, usage)
        job = s.system.jobs.get(args[0])
        if job is None:
            raise Refusal(f"no job {args[0]!r}; jobs: {', '.join(sorted(s.system.jobs)) or 'none'}")
        if verb == "pause":
            ops.pause_job(s.system, job, by)
        elif verb == "resume":
            ops.resume_job(s.system, job, by)
        else:
            start = whole(opts["from"], "from", 0) if "from" in opts else None
            ops.run_job(s.system, job, by, from_item=start)
        return f"Job {job.name}: {job.state} at item {job.progress:,}.", None

    return handler


for _verb, _help_text in (
    ("pause", "Pause a job (it keeps its place)."),
    ("resume", "Resume a paused job."),
    ("run", "Start a job (without checkpoints from the first item, unless from=ITEM)."),
):
    _usage = f"job {_verb} NAME" + (" [from=ITEM]" if _verb == "run" else "")
    command(f"job {_verb}", "act", _usage, _help_text, ("job",))(_job_cmd(_verb, _usage))


def _operation_cmd(verb: str, usage: str) -> Handler:
    def handler(s: Session, args: list[str], by: str) -> Reply:
        need(args, 1, usage)
        op = ops.operation(s.system, args[0])
        if verb == "pause":
            ops.pause_operation(s.system, op, by)
        elif verb == "resume":
            ops.resume_operation(s.system, op, by)
        else:
            ops.start_operation(s.system, op, by)
        return views.operation_line(s, op).strip(), None

    return handler


for _verb, _help_text in (
    ("start", "Start an operation (a resync, a reindex...): it runs on its own from now on."),
    ("pause", "Pause a running operation (it keeps its place)."),
    ("resume", "Resume a paused operation."),
):
    _usage = f"operation {_verb} NAME"
    command(f"operation {_verb}", "act", _usage, _help_text, ("operation",))(
        _operation_cmd(_verb, _usage)
    )
