"""Ways out: Twilio, email, Slack, the console. Each implements a port of the core and speaks only its errors."""
