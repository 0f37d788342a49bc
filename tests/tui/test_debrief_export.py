"""`e` on the debrief writes where the README says (beside the game's database) and says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.tui.screens.debrief import export_folder

from .helpers import command, new_app, sync, to_debrief, to_incident


@sync
async def test_export_goes_to_the_data_folder_not_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "checkout"
    cwd.mkdir()
    monkeypatch.setenv("DOJO_HOME", str(home))
    monkeypatch.chdir(cwd)
    assert export_folder() == home / "debriefs"
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await to_incident(pilot)
        await command(pilot, "resolve")
        debrief = await to_debrief(pilot, with_comparison=False)
        await pilot.press("e")
        await pilot.pause()
        assert debrief.exported is not None
        assert debrief.exported.parent == home / "debriefs"
        assert debrief.exported.read_text(encoding="utf-8").startswith("# Postmortem: ")
        assert f"Exported to {debrief.exported}" in str(
            debrief.query_one("#export-status").render()
        )
    assert list(cwd.iterdir()) == []  # nothing left in the current folder
