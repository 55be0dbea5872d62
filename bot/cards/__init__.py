"""Cards: one platform-neutral picture of a ticket; each messenger has its own renderer."""
