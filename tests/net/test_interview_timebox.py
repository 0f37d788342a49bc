"""The time box ends play at its deadline exactly, however late the host's clock ticks (a
loaded machine, a stalled event loop): a tick never carries play past the deadline."""

from __future__ import annotations

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.interview import new_interview


def test_a_late_tick_stops_play_at_the_deadline(poison: Incident) -> None:
    host = new_interview(poison.for_seed(3), 3, host_name="ivy", store=None, minutes=1, speed=20)
    now = [100.0]
    host._clock = lambda: now[0]  # the host's real clock, moved by hand
    host._last_tick_wall = now[0]
    now[0] += 2.0  # 40 simulated seconds
    host.tick()
    assert host.session.now == 40 and not host.over
    now[0] += 30.0  # one tick 30 s late: 600 simulated seconds, the deadline is at 60
    host.tick()
    assert host.session.now == 60 and host.time_up and host.over
    assert any(s.text.startswith("Time is up") and s.at == 60 for s in host.said)
    host.tick()
    assert host.session.now == 60  # play stays stopped where the time box ended
