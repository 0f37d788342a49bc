"""Bytes that are not UTF-8, typed into a full-screen app, become U+FFFD keys and the app goes on.

The terminal driver's own input thread reads a pipe standing in for the terminal, so
the decoding under test is Textual's, as `dojo play` and the consoles run it.
"""

from __future__ import annotations

import codecs
import os
import threading

import pytest
import textual.drivers.linux_driver as linux_driver
from textual import events
from textual.app import App
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from oncall_dojo.tui.app import DojoApp
from oncall_dojo.tui.input_bytes import tolerate_undecodable_input

from .helpers import sync

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the terminal driver is POSIX's")


class Recording(LinuxDriver):
    """The terminal driver, keeping the events its input thread makes instead of posting them."""

    def __init__(self, app: App[None], fd: int) -> None:
        super().__init__(app)
        self.fileno = fd
        self.events: list[Message] = []

    def process_message(self, message: Message) -> None:
        self.events.append(message)


def typed(data: bytes) -> tuple[list[str], BaseException | None]:
    """Feed `data` to the driver's input thread; the characters of its key events, and
    what stopped the thread, if anything did."""
    read_end, write_end = os.pipe()
    driver = Recording(App(), read_end)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            driver.run_input_thread()
        except BaseException as e:  # the input thread's death is what is under test
            failure.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    os.write(write_end, data)
    os.close(write_end)
    driver.exit_event.set()
    thread.join(10)
    os.close(read_end)
    assert not thread.is_alive()
    keys = [e.character or "" for e in driver.events if isinstance(e, events.Key)]
    return keys, failure[0] if failure else None


@sync
async def test_a_byte_that_is_not_utf8_becomes_a_replacement_character() -> None:
    tolerate_undecodable_input()
    keys, failure = typed(b"caf\xff!")
    assert failure is None
    assert keys == ["c", "a", "f", "\ufffd", "!"]


@sync
async def test_without_it_the_input_thread_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the change is for: Textual's own decoder stops the thread at the bad byte."""
    monkeypatch.setattr(linux_driver, "getincrementaldecoder", codecs.getincrementaldecoder)
    keys, failure = typed(b"caf\xff!")
    assert isinstance(failure, UnicodeDecodeError)
    assert "\ufffd" not in keys


def test_every_full_screen_app_makes_the_drivers_tolerant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linux_driver, "getincrementaldecoder", codecs.getincrementaldecoder)
    DojoApp()
    assert linux_driver.getincrementaldecoder is not codecs.getincrementaldecoder
    assert tolerate_undecodable_input() == ["linux_driver", "linux_inline_driver", "web_driver"]
