-- The fields of a Parquet file's `properties` struct.
DESCRIBE SELECT properties.* FROM parquet_source;
