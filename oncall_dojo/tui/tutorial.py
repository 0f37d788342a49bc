"""The guided first incident (`dojo tutorial`): a real incident on the real engine, recorded and
scored like any game, with a guide line that says what to do next and ticks off what is done.

Each step is done once the session (or the clock) shows it happened, in any order: the guide
shows the first step not yet done. The guide only reads; the player's keys and commands do
everything, so the score is genuine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.tui.pacing import Pacer

INCIDENT = "payments-stuck"
"""The tutorial's incident: easy, one clear cause, every kind of evidence."""
SEED = 1


@dataclass(frozen=True)
class Step:
    title: str
    """What the step teaches, a few words (ticked off in the console)."""
    text: str
    """What to do, with the keys."""
    done: Callable[[Session, Pacer], bool]


def _ran(s: Session, test: Callable[[str], bool], kind: str | None = None) -> bool:
    return any(test(e.command) and (kind is None or e.kind == kind) for e in s.entries)


STEPS: tuple[Step, ...] = (
    Step(
        "the clock",
        "Time is paused so you can read. F2 runs the clock and pauses it again.",
        lambda s, p: not p.paused or s.now > 0,
    ),
    Step(
        "acknowledge",
        "The page is ringing: F5 acknowledges it (and stops the escalation timer).",
        lambda s, p: s.acked_at is not None,
    ),
    Step(
        "filter logs",
        "Logs: tab (on an empty console line) goes to the filter: type service:billing "
        "level:warn, enter. Escape: back to the console.",
        lambda s, p: any((e.evidence or "").startswith("logs:") for e in s.entries),
    ),
    Step(
        "a chart",
        "A chart: ctrl+o to Metrics, then tab until the series field has the keys; type "
        'queue_depth{queue="payments"} (→ accepts), enter.',
        lambda s, p: _ran(s, lambda c: c.startswith("metrics")),
    ),
    Step(
        "the map",
        "ctrl+o to Map: every component and its health. Tab into it, down to workers billing, "
        "enter: its detail (why are they DOWN?).",
        lambda s, p: _ran(s, lambda c: c.startswith("workers")),
    ),
    Step(
        "completion",
        "At the console type queue pay and press tab: it completes to queue payments. Enter.",
        lambda s, p: _ran(s, lambda c: c.startswith("queue "), kind="investigate"),
    ),
    Step(
        "a refusal",
        "Try a command the system refuses, e.g. restart with no name: a refusal says why and "
        "changes nothing.",
        lambda s, p: any(e.kind == "refused" for e in s.entries),
    ),
    Step(
        "act",
        "One message kills every billing worker that takes it: dlq move payments top sets it "
        "aside, restart billing revives them.",
        lambda s, p: _ran(s, lambda c: c.startswith("dlq move"), kind="act"),
    ),
    Step(
        "a status update",
        "Tell people: F7 posts a status update (what customers see, what you are doing); "
        "ctrl+s posts it.",
        lambda s, p: bool(s.status_updates),
    ),
    Step(
        "diagnose",
        "F6 declares the root cause: enter opens a list, choose the part and then the mechanism, enter on the notes line declares.",
        lambda s, p: s.diagnosis is not None,
    ),
    Step(
        "resolve",
        "Let billing catch up (wait 2m at the console), then F9 declares it resolved and the "
        "debrief shows your score.",
        lambda s, p: s.declared_resolved_at is not None or s.ended,
    ),
)


class GuideBar(Static):
    """One or two lines over the panes: the tutorial's next step, and how far along it is."""

    def __init__(self, session: Session, pacer: Pacer, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.pacer = pacer
        self.steps = STEPS
        self.done: set[int] = set()
        self._last = ""

    def newly_done(self) -> list[Step]:
        """Steps done since the last call (to tick off in the console); a step once done stays
        done (the clock paused again, say)."""
        new = [
            i
            for i, st in enumerate(self.steps)
            if i not in self.done and st.done(self.session, self.pacer)
        ]
        self.done.update(new)
        return [self.steps[i] for i in new]

    @property
    def current(self) -> int:
        """The first step not done yet (len(steps) once all are)."""
        return next((i for i in range(len(self.steps)) if i not in self.done), len(self.steps))

    def update_view(self) -> None:
        self.newly_done()
        i = self.current
        t = Text()
        t.append(
            f" TUTORIAL {min(i + 1, len(self.steps))}/{len(self.steps)} ", style="bold reverse"
        )
        t.append(" ")
        if i < len(self.steps):
            t.append(self.steps[i].text)
        else:
            t.append("All done: the debrief comes next.")
        if t.plain != self._last:
            self._last = t.plain
            self.update(t)


class WelcomeDialog(ModalScreen[bool]):
    """Offered the first time the game starts: the guided first incident, or skip to the list."""

    CSS_PATH = "screens/dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "skip", "Skip"),
        Binding("enter", "start", "Start", priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="welcome"):
            yield Label("Welcome to oncall-dojo", classes="title")
            yield Static(
                "You will be paged by a small online shop whose backend really misbehaves, "
                "investigate with logs, metrics and a console, and act. New here? A guided first "
                "incident takes about 5 minutes and shows every key as you need it. "
                "You can start it any time with `dojo tutorial`."
            )
            with Horizontal(classes="buttons"):
                yield Button("Skip (escape)", id="skip")
                yield Button("Start the tutorial (enter)", id="start", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "start")

    def action_skip(self) -> None:
        self.dismiss(False)

    def action_start(self) -> None:
        self.dismiss(True)
