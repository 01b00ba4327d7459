"""Ships in the wheel as the package syncer.warehouse.migrations (see pyproject.toml)."""
