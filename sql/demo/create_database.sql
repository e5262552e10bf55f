-- {name} is an identifier composed with psycopg2.sql.Identifier, never a raw string.
CREATE DATABASE {name}
