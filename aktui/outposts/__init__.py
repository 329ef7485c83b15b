"""Outposts as processes: is their config stale, how to fix them, and the proof."""
