COPY users (id, name, email, country, created_at) FROM STDIN
