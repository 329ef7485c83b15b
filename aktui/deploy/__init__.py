"""NGINX snippets for the live model, and pushing them to web servers over SSH."""
