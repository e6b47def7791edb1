"""The HTTP API (``api.py``), its report endpoints and the web page (``web/``)."""
