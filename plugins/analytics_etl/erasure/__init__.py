"""Erasure of one user (contract section 6, DAG `erase_user_data`): every sink, every platform file.

`request` checks the user id, `postgres` and `cassandra` remove the rows and keys, `files` rewrites
the staging, curated and quarantine files without the user and redacts validation artefacts, and
`tasks` holds the DAG's task bodies. Each part is idempotent: a second erasure finds nothing.
"""
