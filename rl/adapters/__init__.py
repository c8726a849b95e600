"""Adapters for other tools (optional extras): `inspect_ai_task` (pip install -e ".[inspect]")."""
