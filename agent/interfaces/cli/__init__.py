"""The ``chamberlain`` command line: the app (``app.py``) and one module per command group."""
