"""The API's routes, one module per resource; each exposes ``build(settings) -> APIRouter``.

Routers are built per app so that limits from the settings (page size, k) appear in the
OpenAPI schema as the parameters' maxima.
"""
