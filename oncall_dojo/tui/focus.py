"""Where the player's typing goes: helpers the incident screen uses to keep keys with the console.

* A printable key typed while a widget that takes no text has focus (the log view, a list, a
  table, a select) goes to the ops console, where the player meant it (`forward_key`).
* The footer shows every key when the terminal is wide, and only the essential ones when it is
  not (`footer_keys`): the others stay bound, and F1 and the palette list them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TabbedContent, TextArea


def forward_key(screen: Screen[Any], event: events.Key, console: Input) -> bool:
    """Type `event`'s character into `console` if the focused widget takes no text and the key is
    not one of the screen's own; True if it was taken."""
    focused = screen.focused
    if (
        focused is None
        or isinstance(focused, Input | TextArea)
        or not event.is_printable
        or not event.character
        or event.key == "space"  # lists, buttons and selects act on space
        or event.key in screen._bindings.key_to_bindings  # the screen's own keys (`?`)
    ):
        return False
    event.stop()
    event.prevent_default()
    console.focus()
    console.insert_text_at_cursor(event.character)
    return True


def first_in_pane(screen: Screen[Any]) -> Widget | None:
    """The first widget that takes focus in the open pane of the screen's `TabbedContent`."""
    pane = screen.query_one(TabbedContent).active_pane
    if pane is None:
        return None
    return next((w for w in screen.focus_chain if pane in w.ancestors), None)


def footer_keys(
    screen: Screen[Any], shown: frozenset[str], essential: frozenset[str], *, wide: bool
) -> None:
    """Show the keys in `shown` in the footer when `wide`, else only those also in `essential`."""
    keys = screen._bindings.key_to_bindings
    changed = False
    for key, bindings in list(keys.items()):
        show = key in shown and (wide or key in essential)
        if any(b.show != show for b in bindings):
            keys[key] = [replace(b, show=show) for b in bindings]
            changed = True
    if changed:
        screen.refresh_bindings()
