"""The HTTP API of the C2C matcher (FastAPI): ``api.app.create_app``; run with ``c2c serve``."""
