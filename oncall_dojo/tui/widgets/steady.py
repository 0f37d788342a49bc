"""Widgets that spare the screen layout passes and redraws which change nothing.

While the clock runs fast the screen is redrawn several times a second, and the
player types at the same time; each needless layout pass or scrollbar redraw is
time a key waits for.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.widgets import Input


class SteadyScrollbars(ScrollView):
    """Mixed in after a scroll view class (`class X(RichLog, SteadyScrollbars)`, so that CSS
    still sees X as the first base): redraw the scrollbars only when they change.

    Textual updates a scroll view's scrollbars on every layout pass of the screen, changed or
    not (it compares the view's own virtual size with the compositor's, which differ for any
    view that scrolls), and redrawing one costs a few milliseconds. A pass with the same sizes
    as the last one is skipped: nothing about the view or its scrollbars can have changed.
    (This overrides a private method of Textual 8.2's ScrollView; check it on upgrades. The
    TUI tests resize the console and check its size and scrollbar.)
    """

    _steady_sizes: tuple[Size, Size, Size, Size] | None = None

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        sizes = (size, virtual_size, container_size, self.virtual_size)
        if sizes == self._steady_sizes:
            return False
        self._steady_sizes = sizes
        return super()._size_updated(size, virtual_size, container_size, layout)


class SteadyInput(Input):
    """An Input whose text growing or shrinking repaints the input only.

    Textual's Input sets its virtual size to the text's width on every change, and a virtual
    size change lays out the whole screen again; an Input of fixed size (these are) scrolls
    its text by that virtual size alone, without the compositor. Inputs sized `auto` still
    ask for layout themselves when their value changes.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)


class HistoryInput(SteadyInput):
    """A SteadyInput where up/down walk back through what was entered (`remember` each entry)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[str] = []
        self._pos = 0

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._pos = len(self.history)
