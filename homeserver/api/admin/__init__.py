"""Admin API routes (Synapse-compatible paths where tools rely on them)."""

from homeserver.api.admin import media, register

ROUTES = [register.routes, media.routes]
