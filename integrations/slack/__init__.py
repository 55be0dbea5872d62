"""Slack transport: Block Kit rendering of cards. The platform-neutral core in bot/ never imports this."""
