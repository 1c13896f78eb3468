"""Operator tools for AME (never shipped to Lambda): `bin/ame dlq list|show|replay`."""
