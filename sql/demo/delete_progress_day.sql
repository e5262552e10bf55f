-- Adding a day replaces that day's progress rows only.
DELETE FROM progress WHERE date = %(date)s
