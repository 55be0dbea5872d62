"""Classify: which triage category a patient message belongs to, how sure, and why."""
