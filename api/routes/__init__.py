"""The API's routes, one module per resource; each defines a module-level ``router``.

Limits that come from the settings (page size, k) are enforced by dependencies and written
into each app's OpenAPI schema (:mod:`api.params`).
"""
