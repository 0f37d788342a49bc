"""The simulated services. Each component owns its state and advances it one tick at a time;
`System` (in `oncall_dojo.sim.system`) owns one of each and calls them in its tick order.

- `api`: traffic, the fleet and its rollouts; `requests` serves a route's requests, with the
  latency shapes in `latency`.
- `provider`: the external payment provider.
- `workers`: replicas at work (the pool and replica model is `pool`); `consumers` and `charges`
  say what a finished delivery does; `autoscaler` follows the queues' backlog.
- `jobs`: the scheduler and its batch jobs.
- `broker`: the memory alarm, restarts and producers; `queue` delivers, redelivers and
  dead-letters messages.
- `cache` and `database` settle last, for the next tick.
- `traits`: what each version of a service does now.
"""
