"""What the player can observe of the system: metrics, log lines and alerts."""
