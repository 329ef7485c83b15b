"""Textual stylesheets (installed as aktui.styles)."""
