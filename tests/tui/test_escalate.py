"""`escalate` in the full-screen game: completion offers the teams, and the team paged joins in
the console under its own name when the clock brings them."""

from __future__ import annotations

from textual import events
from textual.widgets import Static

from oncall_dojo.game.escalation import JOIN_S
from oncall_dojo.game.session import Session
from oncall_dojo.tui.completion import complete
from oncall_dojo.tui.widgets.console import CommandInput, ConsoleLog

from .helpers import command, new_app, sync, to_incident, wait_for


def test_completion_offers_the_teams_to_page(paged: Session) -> None:
    assert complete("esc", paged) == ("escalate ", [])
    assert complete("escalate p", paged)[1] == ["postgres", "platform", "payments-provider"]
    assert complete("escalate bi", paged) == ("escalate billing ", [])


@sync
async def test_the_paged_team_joins_in_the_console_under_its_name() -> None:
    app = new_app()
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        await command(pilot, "escalate billing restart billing")
        log = screen.query_one(ConsoleLog)
        text = "\n".join(str(line.text) for line in log.lines)
        assert "Paged billing. billing on-call joins the call in about 4 minutes" in text
        await command(pilot, f"wait {JOIN_S}")
        await pilot.pause()
        text = "\n".join(str(line.text) for line in log.lines)
        assert "[04:00] billing on-call: > restart billing" in text
        assert "Joined the call and ran `restart billing`: Restarting" in text
        changes = screen.session.system.changes
        assert changes[-1].author == "billing on-call" and changes[-1].kind == "restart"


@sync
async def test_tab_right_after_fast_typing_completes_what_was_typed() -> None:
    """Keys that arrive in one burst (a fast typist, a paste, a loaded machine) are handled in
    order: tab completes the text typed before it rather than seeing an empty line and moving
    into the pane (it did, as a priority binding it ran before the letters reached the input)."""
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        inp = screen.query_one(CommandInput)
        assert app.focused is inp
        for ch in "escalate p":
            app.post_message(events.Key(ch if ch != " " else "space", ch))
        app.post_message(events.Key("tab", None))
        await wait_for(pilot, lambda: inp.value == "escalate p")
        await pilot.pause()
        assert app.focused is inp
        shown = str(screen.query_one("#candidates", Static).render())
        assert shown.split() == ["postgres", "platform", "payments-provider"]
        # and tab on an empty line still goes into the open pane
        inp.value = ""
        await pilot.press("tab")
        assert app.focused is not inp
