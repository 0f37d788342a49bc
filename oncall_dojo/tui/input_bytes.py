"""Keys that are not UTF-8 become U+FFFD instead of stopping the app.

Textual's input threads (the terminal drivers, and the web driver behind a browser
or relayed seat) decode what the terminal sends with a strict UTF-8 decoder, so one
byte that is not UTF-8 (a paste from a Latin-1 terminal, a stray byte from a
multiplexer) raises `UnicodeDecodeError` in the input thread and the app stops
taking keys (upstream Textualize/textual#6456, open). `tolerate_undecodable_input`
makes those drivers decode with `errors="replace"`, as the line consoles already do:
the player sees `�` where the bad byte was and the game goes on. Every full-screen
app calls it before it runs; calling it again does nothing.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import importlib
from typing import Any

_DRIVERS = ("linux_driver", "linux_inline_driver", "web_driver")


def _replacing(encoding: str) -> Any:
    """`codecs.getincrementaldecoder`, with the decoder it returns replacing bad bytes."""
    return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")


def tolerate_undecodable_input() -> list[str]:
    """Make Textual's input drivers replace bytes that are not UTF-8; returns those changed.

    A driver module that cannot load here (the POSIX drivers on Windows) is left out; one
    whose decoder is no longer taken from `codecs.getincrementaldecoder` is left as it is.
    """
    changed = []
    for name in _DRIVERS:
        with contextlib.suppress(ImportError):
            module = importlib.import_module(f"textual.drivers.{name}")
            if getattr(module, "getincrementaldecoder", None) in (
                codecs.getincrementaldecoder,
                _replacing,
            ):
                module.getincrementaldecoder = _replacing  # type: ignore[attr-defined]
                changed.append(name)
    return changed
