COPY progress (user_id, lesson_id, subject, date, time_spent_minutes, score, completed_at) FROM STDIN
