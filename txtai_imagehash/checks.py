"""
Checks module: validation of the integer arguments that the query builder, de-duplication, the hash pipeline, the
PostgreSQL backend and the command line accept, and the ranges they accept, in one place. Needs no heavy import, so
that the command line checks its arguments at once.
"""

# Largest SQL integer (SQLite INTEGER, PostgreSQL bigint): the largest limit and distance a query takes
SQLINT = 2**63 - 1

# Longest hash: 4096 bits, 1024 hex digits, the longest the query builder accepts
MAXBITS = 4096

# Hash sizes per algorithm: (smallest, largest, powers of two only). The largest keep hashes within MAXBITS (size^2
# bits for average, perceptual, difference and wavelet, 3 x size^2 for combined); imagehash needs 2 or more, the
# wavelet hash powers of two, and the color hash (14 x size bits) overflows its counts above 16 bits per bin.
SIZES = {
    "average": (2, 64, False),
    "perceptual": (2, 64, False),
    "difference": (2, 64, False),
    "wavelet": (2, 64, True),
    "color": (1, 16, False),
    "combined": (2, 36, False),
}


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


def hashsize(algorithm, size, name="hash size"):
    """
    Validates a hash size for an algorithm (see SIZES). Algorithms not listed there (registered by other code) are
    only checked to be positive.

    Args:
        algorithm: algorithm name
        size: hash size
        name: argument name for the error message

    Returns:
        size as int
    """

    minimum, maximum, powers = SIZES.get(algorithm, (1, None, False))
    valid = isinstance(size, int) and not isinstance(size, bool) and minimum <= size and (maximum is None or size <= maximum)
    if not valid or (powers and size & (size - 1)):
        expected = f"a power of two from {minimum} to {maximum}" if powers else f"an integer from {minimum} to {maximum}"
        raise ValueError(f"Invalid {name} {size!r} for {algorithm}: expected {expected}")

    return int(size)
