"""A Matrix homeserver: client-server API, federation, media and admin over PostgreSQL."""

__version__ = "0.1.0"
