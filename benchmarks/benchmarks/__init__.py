"""asv benchmarks for numbarnn."""
