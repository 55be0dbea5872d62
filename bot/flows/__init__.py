"""Flows: the steps of the product in order — intake, triage (match, classify, route, act), delivery."""
