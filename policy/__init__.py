"""The tasks-cutover policy pack (the CLI runs __main__.py; tests import policy.rules)."""
