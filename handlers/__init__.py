"""Ways in: patient-channel webhooks, chat interactions, the CLI and scheduled jobs. Each parses and calls a flow."""
