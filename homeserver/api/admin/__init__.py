"""Admin API routes (Synapse-compatible paths where tools rely on them)."""

from homeserver.api.admin import register

ROUTES = [register.routes]
