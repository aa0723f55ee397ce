"""Small tools for people and CI around the Pulumi program (e.g. preview_md: preview JSON to Markdown)."""
