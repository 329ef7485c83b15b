"""Outpost containers on docker hosts: discovery, actions, log streams."""
