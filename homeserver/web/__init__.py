"""The web client's built files (index.html, assets/), served by homeserver.api.web_client.

Do not edit: ``node webclient/build.mjs`` writes them from ``webclient/src``, and
tests/web/test_assets.py fails when they are stale.
"""
