"""
Errors module: the command line's exit codes and its usage error.
"""

# Exit codes: success, duplicates found with --fail-on-duplicates, usage error, some files not moved or put back
OK, DUPLICATES, USAGE, PARTIAL = 0, 1, 2, 3


class UsageError(Exception):
    """
    A usage error: the message says what to do. Exits with code 2.
    """
