-- The user's e-mail addresses as the platform stored them: redacted from validation artefacts too.
SELECT DISTINCT email FROM daily_user_stats WHERE user_id = %(user_id)s;
