"""Accounts, sessions, devices, profiles and the user directory: the behaviour."""
