COPY (SELECT id::text, name, email FROM users) TO STDOUT WITH (FORMAT csv)
