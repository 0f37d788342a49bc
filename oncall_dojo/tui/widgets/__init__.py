"""Widgets of the game's screens; each renders a view of the session and posts messages up."""

from oncall_dojo.tui.widgets.log_explorer import LogExplorer

__all__ = ["LogExplorer"]
