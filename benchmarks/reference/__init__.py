"""A single-node reference implementation of the data contract in DuckDB (benchmarks/reference_duckdb.py).

`engine.Reference` judges a day's drop (contract section 3) and computes the four outputs (section 4);
`source.copy_source` reads users and the week's progress from the source PostgreSQL; `lines` numbers
the physical lines of text files.
"""
