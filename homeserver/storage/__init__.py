"""Storage: plain async functions taking an asyncpg connection (or the pool) first.

The caller owns the transaction; storage never raises an HTTP error.
"""
