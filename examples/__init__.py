"""Examples, importable for the smoke tests."""
