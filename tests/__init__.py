"""numbarnn test suite."""
