"""Talking to authentik: the API client, the model built from its answers, findings."""
