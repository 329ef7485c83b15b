"""`aktui doctor`: every pitfall checked against the live setup."""
