-- The days of [start, end] that already hold progress rows: adding a day fills only the others.
SELECT DISTINCT date FROM progress WHERE date BETWEEN %(start)s AND %(end)s
