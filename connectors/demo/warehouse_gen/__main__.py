"""``python -m connectors.demo.warehouse_gen PATH``: write the demo warehouse (SQLite)."""

from connectors.demo.warehouse_gen.writers import main

raise SystemExit(main())
