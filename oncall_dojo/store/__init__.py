"""The game's own SQLite database: players, sessions, hash-chained events, scores.

The only package that imports sqlite_utils. The headless core (sim, incident,
game) never imports this package; the CLI and the TUI do, lazily.
"""

from oncall_dojo.store.db import default_path
from oncall_dojo.store.errors import SessionNotFound, StoreError, StoreUnavailable, StoreUnusable
from oncall_dojo.store.recorder import Recorder
from oncall_dojo.store.records import Store

__all__ = [
    "Recorder",
    "SessionNotFound",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreUnusable",
    "default_path",
]
