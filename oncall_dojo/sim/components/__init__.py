"""The simulated services: each component owns its state and advances it one tick at a time.

`System` (in `oncall_dojo.sim.system`) owns one of each and calls them in its tick order.
"""
