COPY users_generated (id, name, email, country, created_at) FROM STDIN
