"""AWS adapters for the pure `paramwatch` library. Only the Lambda handlers import this package."""
