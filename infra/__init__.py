"""The Pulumi program for the SQLite -> Render Postgres cutover (stacks stg and prd)."""
