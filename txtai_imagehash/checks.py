"""
Checks module: validation of the integer arguments that the query builder, de-duplication, the PostgreSQL backend
and the command line accept.
"""


def integer(name, value, minimum=0, maximum=None):
    """
    Validates an optional integer argument within a range.

    Args:
        name: argument name for the error message
        value: value to check; None passes as None
        minimum: smallest value allowed
        maximum: largest value allowed, or None for no bound

    Returns:
        value as int, or None
    """

    if value is None:
        return None

    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        expected = f"an integer from {minimum} to {maximum}" if maximum is not None else "a non-negative integer" if minimum == 0 else f"an integer of {minimum} or more"
        raise ValueError(f"Invalid {name} {value!r}: expected {expected}")

    return int(value)
