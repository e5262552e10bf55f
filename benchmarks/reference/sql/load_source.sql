-- users and the week's progress, from the CSV files COPY wrote (registered as users_csv and
-- progress_csv by reference/source.py).
CREATE TABLE users AS SELECT lower(id) AS id, name, email FROM users_csv;
CREATE TABLE progress AS
SELECT lower(user_id) AS user_id, subject, date, time_spent_minutes, score_cents FROM progress_csv;
