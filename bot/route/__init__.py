"""Route: who handles a ticket, and whether the bot may answer it itself. Pure rules, no I/O."""
