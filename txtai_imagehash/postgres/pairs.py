"""
Pairs module: all pairs of hashes within a Hamming distance, found inside PostgreSQL as one set query over the hashes
table (txtai_imagehash.postgres.blocks), by the principle of txtai_imagehash.duplicates.pairs: each 64-bit word is
searched within its radius (txtai_imagehash.ann.radii(): two hashes within threshold bits are within it on some
word), its bits split into blocks (txtai_imagehash.ann.pigeonhole() chooses how many); two words within r bits agree
on at least blocks - r of them, and every choice of that many blocks is a key. Each key is a self-join of the table
on equal keys (a hash join), verified with bit_count(a # b) on all bits.

Several workers can share the work on one index: worker `part` of `parts` joins only the keys with
key % parts = part, so the workers' pairs together are all pairs.
"""

from itertools import combinations

from sqlalchemy import text as textsql

from ..ann import layout, pigeonhole, radii
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

    # Key blocks word by word, each 64-bit word within its radius (txtai_imagehash.ann.radii(), as the embedded pairs())
    nbits = 4 * digits
    sizes = [min(64, nbits - 64 * word) for word in range(-(-nbits // 64))]

    branches = []
    for word, (bits, radius) in enumerate(zip(sizes, radii(len(sizes), threshold, sizes))):
        number = pigeonhole(count, radius, bits, KEYBITS)
        split = layout(bits, number)
        value = f"substring(bits from {64 * word + 1} for {bits})::bit({bits})::bigint"

        for table in combinations(range(number), number - radius):
            # Key: the table's blocks side by side, at most KEYBITS bits (fewer key bits only add candidates)
            terms, offset = [], 0
            for block in reversed(table):
                _, shift, width = split[block]
                width = min(width, KEYBITS - offset)
                if width <= 0:
                    break
                terms.append(f"((({value} >> {shift}) & {(1 << width) - 1}) << {offset})")
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
