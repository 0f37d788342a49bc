"""Batch and scheduled jobs: the scheduler starts them (on a schedule, on retry, or by hand) and
runs each at its rate, item by item, with or without checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.components.queue import Queue
from oncall_dojo.sim.config import JobConfig
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logs import ERROR, INFO
from oncall_dojo.sim.observability.telemetry import Telemetry


@dataclass
class Job:
    name: str
    cfg: JobConfig
    state: str
    progress: int = 0
    acc: float = 0.0
    runs: int = 0
    next_run: int | None = None
    sends: np.ndarray | None = None
    repair_targets: list[int] = field(default_factory=list)
    items_done: int = 0
    retry_at: int | None = None
    """When the scheduler restarts a failed job."""


class Scheduler:
    def __init__(
        self,
        jobs: dict[str, JobConfig],
        tm: Telemetry,
        db: Database,
        queues: dict[str, Queue],
        records: Records,
        app: AppDb | None,
    ) -> None:
        self.jobs = {
            n: Job(n, j, j.state, next_run=(0 if j.schedule_every_s else None))
            for n, j in jobs.items()
        }
        for job in self.jobs.values():
            if job.cfg.kind == "email" and job.cfg.total:
                job.sends = np.zeros(job.cfg.total, dtype=np.int16)
        self.tm = tm
        self.db = db
        self.queues = queues
        self.records = records
        self.app = app

    def tick(self, t: int) -> None:
        for job in self.jobs.values():
            c = job.cfg
            if job.state == "failed" and job.retry_at is not None and t >= job.retry_at:
                job.retry_at = None
                self.start(t, job.name, author="scheduler-retry")
            if (
                c.schedule_every_s
                and job.next_run is not None
                and t >= job.next_run
                and job.state != "paused"
            ):
                job.next_run = t + c.schedule_every_s
                self.start(t, job.name, author="cron")
            if job.state == "running":
                self._run(t, job)

    def _run(self, t: int, job: Job) -> None:
        c = job.cfg
        tm = self.tm
        total = c.total
        if c.kind == "credit" and self.app is not None:  # item N is customer N
            total = min(total or self.app.customers, self.app.customers)
        job.acc += c.rate_per_s
        k = int(job.acc)
        if total:
            k = min(k, total - job.progress)
        job.acc -= int(job.acc)
        if k <= 0:
            if total and job.progress >= total:
                job.state = "done"
                tm.log(
                    t,
                    10,
                    "scheduler",
                    INFO,
                    f'scheduler-0 job={job.name} msg="finished" items={job.progress}',
                )
            return
        err = None
        db = self.db
        if c.kind == "write" and c.table:
            # a cluster's own engine runs the writes to its tables; the cluster replicates them
            db.engine(c.table).write_rows(c.table, k, 3.0)
        elif c.kind == "enqueue" and c.queue in self.queues:
            self.queues[c.queue].enqueue(t, k)
        elif c.kind == "email":
            if job.sends is not None:
                job.sends[job.progress : job.progress + k] += 1
            self.records.emails += k
            tm.metrics.row[tm.c_emails] += k
        elif c.kind == "credit" and self.app is not None:
            k = self._credit_items(t, job, k)
        elif c.kind == "repair":
            targets = job.repair_targets[job.progress : job.progress + k]
            for o in targets:
                if self.records.corrupted.pop(o, None) is not None:
                    self.records.repaired += 1
                    if self.app is not None:
                        self.app.restore_order(t, o)
            db.run("order_update", len(targets))
        elif c.kind == "disk":
            if db.disk_used_gb >= db.disk_gb:
                err = "No space left on device"
            else:
                db.disk_used_gb = min(db.disk_gb, db.disk_used_gb + k * c.mb_per_item / 1024.0)
        if err:
            tm.log(
                t,
                11,
                "scheduler",
                ERROR,
                f'scheduler-0 job={job.name} msg="write failed, retrying" error="{err}"',
            )
        job.progress += k
        job.items_done += k
        tm.metrics.row[tm.c_jobs[job.name]] += k
        if job.progress % 500 < k:
            tm.log(
                t,
                12,
                "scheduler",
                INFO,
                f'scheduler-0 job={job.name} msg="progress" done={job.progress} total={c.total or "inf"}',
            )

    def _credit_items(self, t: int, job: Job, k: int) -> int:
        """Credit and email customers `progress+1 ...`; a customer row the job cannot handle fails it."""
        app = self.app
        assert app is not None
        c = job.cfg
        done = 0
        for item in range(job.progress, job.progress + k):
            cid = item + 1
            if cid > app.customers:
                break
            if not app.has_email(cid):
                job.state = "failed"
                job.retry_at = t + c.retry_after_s if c.retry_after_s else None
                self.tm.log(
                    t,
                    11,
                    "scheduler",
                    ERROR,
                    f'scheduler-0 job={job.name} msg="job failed" item={item} customer_id={cid} '
                    f"error=\"TypeError: can only concatenate str (not 'NoneType') to str in render_email(customer.email)\""
                    + (f" retry_in={c.retry_after_s}s" if c.retry_after_s else ""),
                )
                break
            app.credit(t, cid, c.campaign or job.name, c.credit_cents)
            app.send_email(t, cid, c.campaign or job.name, "store_credit")
            done += 1
        self.records.emails += done
        self.tm.metrics.row[self.tm.c_emails] += done
        return done

    def start(self, t: int, name: str, author: str, from_item: int | None = None) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise Refusal(f"no job {name!r}; jobs: {', '.join(sorted(self.jobs)) or 'none'}")
        if job.state == "running":
            raise Refusal(f"job {name} is already running")
        if from_item is not None:
            if job.cfg.total and not 0 <= from_item < job.cfg.total:
                raise Refusal(
                    f"job {name} has items 0 to {job.cfg.total - 1}; got --from {from_item}"
                )
            job.progress = from_item
        elif not job.cfg.checkpoint or job.state == "done":
            # without checkpoints a (re)run starts from the first item
            job.progress = 0
        job.retry_at = None
        if job.cfg.kind == "repair" and job.progress == 0:
            job.repair_targets = sorted(self.records.corrupted)
            job.cfg = job.cfg.model_copy(update={"total": len(job.repair_targets)})
        job.state = "running"
        job.runs += 1
        self.tm.log(
            t,
            9,
            "scheduler",
            INFO,
            f'scheduler-0 job={name} msg="started" run={job.runs} from_item={job.progress} checkpoint={str(job.cfg.checkpoint).lower()} by={author}',
        )
        return job

    def record(self) -> None:
        row = self.tm.metrics.row
        for j, job in self.jobs.items():
            row[self.tm.g_jobs[j]] = (job.progress / job.cfg.total) if job.cfg.total else 0.0
