"""The ``homeserver`` command."""
