"""Pure transforms: DataFrames and explicit parameters in, a DataFrame out; no I/O, no session."""
