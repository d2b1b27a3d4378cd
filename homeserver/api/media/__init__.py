"""Media repository routes (spec: client-server-api "Content repository"; server-server-api
"Content Repository"): one module per group of endpoints."""

from homeserver.api.media import client, federation, legacy, upload

ROUTES = [upload.routes, client.routes, legacy.routes, federation.routes]
