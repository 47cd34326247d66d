"""
Pairs module: all pairs of hashes within a Hamming distance, found inside PostgreSQL as one set query over the hashes
table (txtai_imagehash.postgres.blocks), by the principle of txtai_imagehash.duplicates.pairs: the first 64 bits are
split into blocks (txtai_imagehash.ann.pigeonhole() chooses how many), two hashes within threshold bits agree on
at least blocks - threshold of them, and every choice of that many blocks is a key. Each key is a self-join of the
table on equal keys (a hash join), verified with bit_count(a # b) on all bits.

Several workers can share the work on one index: worker `part` of `parts` joins only the keys with
key % parts = part, so the workers' pairs together are all pairs.
"""

from itertools import combinations

from sqlalchemy import text as textsql

from ..ann import layout, pigeonhole
from .blocks import TABLE

# Largest key: a non-negative bigint
KEYBITS = 63

# Memory for each hash join (PostgreSQL's default of 4 MB spills a join of a million rows to disk)
WORKMEM = "256MB"


def pairs(connection, blocks, threshold, part=0, parts=1):
    """
    Finds all pairs of distinct hashes within threshold bits of each other in the hashes table.

    Args:
        connection: SQLAlchemy connection or session with the index's schema in its search_path
        blocks: txtai_imagehash.postgres.blocks.Blocks of the index
        threshold: maximum distance in bits, at least 1
        part: this worker's share of the keys, 0 to parts - 1
        parts: number of workers

    Returns:
        sorted list of (hex hash, hex hash, distance), the smaller hash first, each pair once
    """

    if not 0 <= part < parts:
        raise ValueError(f"Invalid part {part!r} of {parts!r}: expected 0 <= part < parts")

    count = connection.execute(textsql(f"SELECT count(*) FROM {TABLE}")).scalar()
    if count < 2:
        return []

    sql = statement(blocks.digits, threshold, count, part, parts)

    # Hash joins in memory, as PostgreSQL's planner would not choose them for keys it cannot estimate
    settings = {"enable_mergejoin": "off", "work_mem": WORKMEM}
    previous = {name: connection.execute(textsql("SELECT current_setting(:name)"), {"name": name}).scalar() for name in settings}
    try:
        for name, value in settings.items():
            connection.execute(textsql("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})

        rows = connection.execute(textsql(sql)).all()
    finally:
        for name, value in previous.items():
            connection.execute(textsql("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})

    return sorted((tohex(a, blocks.digits), tohex(b, blocks.digits), int(distance)) for a, b, distance in rows)


def statement(digits, threshold, count, part, parts):
    """
    Builds the pairs query: one self-join on equal keys per choice of blocks, all in one statement.

    Args:
        digits: hex digits per hash
        threshold: maximum distance in bits
        count: number of hashes
        part: this worker's share of the keys
        parts: number of workers

    Returns:
        SQL
    """

    # Key blocks over the first 64 bits: pairs within threshold on all bits are within threshold on those too
    bits = min(64, 4 * digits)
    number = pigeonhole(count, threshold, bits, KEYBITS)
    split = layout(bits, number)
    word = f"substring(bits from 1 for {bits})::bit({bits})::bigint"

    branches = []
    for table in combinations(range(number), number - threshold):
        # Key: the table's blocks side by side, at most KEYBITS bits (fewer key bits only add candidates)
        terms, offset = [], 0
        for block in reversed(table):
            _, shift, width = split[block]
            width = min(width, KEYBITS - offset)
            if width <= 0:
                break
            terms.append(f"((({word} >> {shift}) & {(1 << width) - 1}) << {offset})")
            offset += width

        key = " | ".join(terms)
        side = f"(SELECT bits, {key} AS key FROM {TABLE}) AS keyed WHERE key % {int(parts)} = {int(part)}"
        branches.append(
            f"SELECT a.bits::text AS a, b.bits::text AS b, bit_count(a.bits # b.bits) AS distance "
            f"FROM (SELECT * FROM {side}) a JOIN (SELECT * FROM {side}) b ON a.key = b.key AND a.bits < b.bits "
            f"WHERE bit_count(a.bits # b.bits) <= {int(threshold)}"
        )

    return f"SELECT DISTINCT a, b, distance FROM ({' UNION ALL '.join(branches)}) AS candidates"


def tohex(bits, digits):
    """
    Converts a bit string ('0101...', as PostgreSQL prints bit varying) to a hex hash.

    Args:
        bits: string of 0 and 1
        digits: hex digits

    Returns:
        hex string
    """

    return f"{int(bits, 2):0{digits}x}"
