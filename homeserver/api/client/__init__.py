"""Client-server API routes, one module per spec area."""

from homeserver.api.client import (
    account,
    account_data,
    devices,
    discovery,
    login,
    membership,
    profile,
    register,
    rooms,
    user_directory,
)

ROUTES = [
    discovery.routes,
    register.routes,
    login.routes,
    account.routes,
    devices.routes,
    profile.routes,
    user_directory.routes,
    account_data.routes,
    rooms.routes,
    membership.routes,
]
