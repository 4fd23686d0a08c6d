"""Configuration files (`get_config()`), one per experiment; variants import `default`."""
