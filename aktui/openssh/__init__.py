"""Reaching hosts over SSH as OpenSSH would: connect.py (ssh config, jumps, host keys) and
known_hosts.py (the file format). Shared by deploy/ (web servers) and docker/ (ssh://)."""
