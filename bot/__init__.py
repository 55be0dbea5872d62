"""Core of the med-spa triage bot: domain, rules, flows, storage. Imports no chat or vendor SDK."""
