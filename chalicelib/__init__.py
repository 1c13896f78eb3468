"""AME: the Lambda-shipped code (domain, services, adapters, entrypoints)."""
