"""Client-server API routes, one module per spec area."""

from homeserver.api.client import (
    account,
    account_data,
    devices,
    directory,
    discovery,
    login,
    membership,
    mutual_rooms,
    profile,
    register,
    relations,
    reports,
    rooms,
    sync,
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
    sync.routes,
    relations.routes,
    membership.routes,
    directory.routes,
    reports.routes,
    mutual_rooms.routes,
]
