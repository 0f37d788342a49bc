"""The game's screens: picker, briefing, incident, debrief, and the dialogs."""
