"""The HTTP API (FastAPI) and the pages."""
