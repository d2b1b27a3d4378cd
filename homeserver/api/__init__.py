"""HTTP only: routes parse and validate the request, call one handler, shape the JSON."""
