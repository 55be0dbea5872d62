"""Mailboxes the bot reads patient email from: a Microsoft 365 shared mailbox (Graph) or any IMAP mailbox."""
