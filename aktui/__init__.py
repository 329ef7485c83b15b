"""aktui: a terminal control panel for authentik forward auth behind NGINX."""

__version__ = "0.1.0"
