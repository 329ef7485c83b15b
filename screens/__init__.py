"""Textual screens of aktui (installed as aktui.screens)."""
