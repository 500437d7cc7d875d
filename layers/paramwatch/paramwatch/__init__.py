"""paramwatch: judge reads of SSM Parameter Store secrets recorded by CloudTrail.

The package is pure: records go in, findings come out, and nothing here calls AWS.
"""
