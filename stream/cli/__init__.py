"""The `scorestream` command line."""
