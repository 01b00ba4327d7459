"""The change feed: approvals, statuses and stages between reconciles (changes.py), and
what it keeps in PostgreSQL (state.py)."""
