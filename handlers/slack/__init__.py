"""Slack, the way in: button clicks, modals, the /triage command, the App Home. One file per listener group."""
