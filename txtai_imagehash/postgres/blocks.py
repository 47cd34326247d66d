"""
Blocks module: exact Hamming search inside PostgreSQL by multi-index hashing.

Every row of an index whose `text` is a hex hash of the index's length has a row in the `hashes` table: its index
id, the hash as native bits (`bit varying`, 4 bits per hex digit) and the integer values of its blocks, split as
txtai_imagehash.ann.layout() splits them (3 blocks of 21-22 bits per 64-bit word). Each block has a B-tree index
that includes the index id and the bits, so a query reads index entries only. The content database
(txtai_imagehash.postgres.PostgreSQL) keeps the table in step with its rows on insert, upsert, delete and reindex.

A query within r bits reads, from each block index, the rows whose block value is within txtai_imagehash.ann.radii()
bits of the query's block (block values enumerated, one index probe each) and verifies them with
`bit_count(bits # query)`, built-in C. By the pigeonhole principle every row within r bits is among them, so the
answer is exact. When a radius needs more than MAXKEYS block values, or would read more than MAXSHARE of the rows
(txtai_imagehash.ann.share(), for uniform hashes), a scan of the compact hashes table is cheaper and is used instead
(still exact).
"""

import csv
import io
import json
import logging

from sqlalchemy import text as textsql

from ..ann import keys, layout, radii, share, split, variants
from ..hashing.codec import ishex, words

logger = logging.getLogger(__name__)

# Table of the hash bits and blocks, in the schema of the index
TABLE = "hashes"

# Blocks per 64-bit word: 21-22 bits per block. Multi-index hashing is fastest with about log2(rows) bits per block
# (Norouzi et al.), so this layout suits 1M to 100M rows.
PERWORD = 3

# Most block values a query probes, and largest expected share of rows it reads: beyond either, a scan of the hashes
# table is cheaper (a probe costs a few microseconds, a scanned row a tenth of one; see benchmarks/postgres.py)
MAXKEYS = 100000
MAXSHARE = 0.05

# Block values of the probes a nearest-neighbor query without a radius tries, in order, before it scans
STEPS = (1000, 10000, MAXKEYS)

# Rows per statement when the table is filled from existing sections
CHUNK = 10000

# NULL in COPY data (an unquoted field that is not a value)
NULL = "\\N"


class Blocks:
    """
    The hashes table of the current schema of a connection.
    """

    def __init__(self, connection, digits, perword=PERWORD):
        """
        Creates a Blocks instance.

        Args:
            connection: SQLAlchemy connection or session, search_path set to the index's schema
            digits: hex digits of the index's hashes
            perword: blocks per 64-bit word
        """

        self.connection = connection
        self.digits, self.perword = digits, perword
        self.layout = layout(4 * digits, perword)

        # Largest radius within a budget of block values, by budget
        self.radii = {}

    @staticmethod
    def describe(connection):
        """
        Reads the layout of the hashes table in the current schema.

        Args:
            connection: SQLAlchemy connection or session

        Returns:
            {"digits": hex digits, "perword": blocks per word}, or None if there is no table
        """

        comment = connection.execute(
            textsql("SELECT to_regclass(:table) IS NOT NULL, obj_description(to_regclass(:table), 'pg_class')"), {"table": TABLE}
        ).first()
        if not comment[0]:
            return None

        return json.loads(comment[1]) if comment[1] else {}

    def create(self):
        """
        Creates the hashes table with an index per block, or empties it when it exists with the same layout
        (a table of another layout is dropped first).
        """

        stored = Blocks.describe(self.connection)
        if stored == self.settings():
            self.connection.execute(textsql(f"DELETE FROM {TABLE}"))
            return

        if stored is not None:
            self.connection.execute(textsql(f"DROP TABLE {TABLE}"))

        columns = ", ".join(f"b{x} integer NOT NULL" for x in range(len(self.layout)))
        self.connection.execute(textsql(f"CREATE TABLE {TABLE} (indexid integer PRIMARY KEY, bits bit varying NOT NULL, {columns})"))
        for x in range(len(self.layout)):
            self.connection.execute(textsql(f"CREATE INDEX {TABLE}_b{x} ON {TABLE} (b{x}) INCLUDE (indexid, bits)"))

        self.connection.execute(textsql(f"COMMENT ON TABLE {TABLE} IS '{json.dumps(self.settings())}'"))

    def settings(self):
        """
        Layout settings stored with the table.

        Returns:
            dict
        """

        return {"digits": self.digits, "perword": self.perword}

    def insert(self, indexids, texts):
        """
        Adds the hashes of rows. Rows whose text is not a hex hash of the index's length have no hash row (vector
        search, near() and dedup skip them, as they skip a row without a hash).

        Args:
            indexids: index ids of the rows
            texts: their text
        """

        rows = [(indexid, text) for indexid, text in zip(indexids, texts) if self.ishash(text)]
        if len(rows) < len(indexids):
            logger.warning("%d rows have no %d-digit hex hash in their text: not searchable by hash blocks", len(indexids) - len(rows), self.digits)

        if not rows:
            return

        indexids, texts = zip(*rows)
        values = split(words(texts)[0], self.layout)
        bits = [format(int(text, 16), f"0{4 * self.digits}b") for text in texts]

        names = ["indexid", "bits"] + [f"b{x}" for x in range(len(self.layout))]
        copy(self.connection, TABLE, names, ((indexid, value, *blocks) for indexid, value, blocks in zip(indexids, bits, values.tolist())))

    def fill(self):
        """
        Adds the hashes of every row of the sections table (an index created before this table existed).
        """

        last = -1
        while True:
            rows = self.connection.execute(
                textsql("SELECT indexid, text FROM sections WHERE indexid > :last ORDER BY indexid LIMIT :limit"), {"last": last, "limit": CHUNK}
            ).all()
            if not rows:
                return

            self.insert([indexid for indexid, _ in rows], [text for _, text in rows])
            last = rows[-1][0]

    def delete(self):
        """
        Deletes the hashes of the rows whose ids are in the database's batch table (txtai's delete batch).
        """

        self.connection.execute(textsql(f"DELETE FROM {TABLE} WHERE indexid IN (SELECT indexid FROM sections WHERE id IN (SELECT id FROM batch))"))

    def analyze(self):
        """
        Refreshes the planner statistics of the hashes table. Without them (a table just filled), PostgreSQL cannot
        tell how few rows a block value holds and scans instead of probing.
        """

        self.connection.execute(textsql(f"ANALYZE {TABLE}"))

    def stale(self, added):
        """
        Checks if the planner statistics are out of date after rows were added: never gathered, or a tenth of the
        rows or more are new.

        Args:
            added: rows added since the statistics were gathered (as far as this process knows)

        Returns:
            True if the statistics should be refreshed (False without a table)
        """

        rows = self.connection.execute(textsql("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"), {"table": TABLE}).first()
        return rows is not None and (rows[0] < 0 or added * 10 >= rows[0])

    def count(self):
        """
        Number of hash rows.

        Returns:
            count
        """

        return self.connection.execute(textsql(f"SELECT count(*) FROM {TABLE}")).scalar()

    def ishash(self, value):
        """
        Checks if value is a hex hash of this index's length.

        Args:
            value: text

        Returns:
            True if value is a hash
        """

        return isinstance(value, str) and len(value) == self.digits and ishex(value)

    def check(self, value):
        """
        Checks a query hash.

        Args:
            value: hex hash

        Returns:
            value
        """

        if not self.ishash(value):
            raise ValueError(f"Invalid hash {value!r}: this index holds {4 * self.digits}-bit hashes ({self.digits} hex digits)")

        return value

    def keys(self, radius):
        """
        Number of block values a query within radius probes.

        Args:
            radius: radius in bits

        Returns:
            number of block values
        """

        return keys([width for _, _, width in self.layout], radius)

    def probes(self, radius):
        """
        Checks if a query within radius is answered by block probes rather than a scan: at most MAXKEYS block values,
        at most MAXSHARE of the rows read.

        Args:
            radius: radius in bits

        Returns:
            True for block probes
        """

        return self.keys(radius) <= MAXKEYS and share([width for _, _, width in self.layout], radius) <= MAXSHARE

    def within(self, value, radius, prefix="q"):
        """
        SQL for the rows within radius bits of a hash: (indexid, distance), each row once. Index probes run without
        parallel workers (see imagehash_distance in txtai_imagehash.postgres.functions), a scan with them.

        Args:
            value: hex hash
            radius: radius in bits
            prefix: bind parameter name prefix

        Returns:
            (sql, parameters)
        """

        value = self.check(value)
        parameters = {prefix: value, f"{prefix}r": int(radius)}

        # Scan when multi-index hashing would probe too many block values or read too many rows
        if not self.probes(radius):
            distance = f"bit_count(bits # CAST('x' || :{prefix} AS bit varying))"
            return f"SELECT indexid, {distance} AS distance FROM {TABLE} WHERE {distance} <= :{prefix}r", parameters

        branches = []
        distance = f"imagehash_distance(bits, CAST('x' || :{prefix} AS bit varying))"
        values = split(words([value])[0], self.layout)[0]
        for x, ((_, _, width), block) in enumerate(zip(self.layout, radii(len(self.layout), radius))):
            if block >= 0:
                # One array literal (faster to read than an ARRAY[...] of as many constants), behind a scalar subquery:
                # the planner then does not estimate every value, which costs more than the probes for large arrays
                parameters[f"{prefix}k{x}"] = "{" + ",".join(map(str, variants(int(values[x]), width, block).tolist())) + "}"
                branches.append(
                    f"SELECT indexid, {distance} AS distance FROM {TABLE} "
                    f"WHERE b{x} = ANY((SELECT CAST(:{prefix}k{x} AS integer[]))::integer[]) AND {distance} <= :{prefix}r"
                )

        return " UNION ".join(branches), parameters

    def search(self, value, limit, maxdistance=None):
        """
        Exact nearest rows of a hash: the limit nearest rows, ties by index id, only those within maxdistance
        bits when set. Without maxdistance, the rows within growing radii are read first (the largest radius within
        each budget of STEPS block values); if fewer than limit rows are there, the hashes table is scanned.

        Args:
            value: hex hash
            limit: number of rows
            maxdistance: largest distance returned, None for no limit

        Returns:
            list of (indexid, distance), nearest first
        """

        value = self.check(value)
        if maxdistance is not None and maxdistance < 0:
            return []

        # Radii to try: largest radius within each budget of block values
        if maxdistance is not None:
            steps = [int(maxdistance)]
        else:
            steps = sorted({self.largest(budget) for budget in STEPS})

        for radius in steps:
            sql, parameters = self.within(value, radius)
            sql = f"SELECT indexid, distance FROM ({sql}) rows ORDER BY distance, indexid LIMIT :limit"
            rows = self.run(sql, {**parameters, "limit": limit})
            if maxdistance is not None or len(rows) >= limit:
                return rows

        # Nearest rows beyond every cheap radius: scan
        distance = "bit_count(bits # CAST('x' || :q AS bit varying))"
        return self.run(f"SELECT indexid, {distance} AS distance FROM {TABLE} ORDER BY distance, indexid LIMIT :limit", {"q": value, "limit": limit})

    def largest(self, budget):
        """
        Largest radius whose query probes at most budget block values (and is answered by probes, see probes()).

        Args:
            budget: block values

        Returns:
            radius in bits
        """

        if budget not in self.radii:
            radius = 0
            while radius < 4 * self.digits and self.keys(radius + 1) <= budget and self.probes(radius + 1):
                radius += 1
            self.radii[budget] = radius

        return self.radii[budget]

    def run(self, sql, parameters):
        """
        Runs a query.

        Args:
            sql: query
            parameters: bind parameters

        Returns:
            list of (indexid, distance)
        """

        return [(indexid, int(distance)) for indexid, distance in self.connection.execute(textsql(sql), parameters)]


def copy(connection, table, columns, rows):
    """
    Writes rows into a table with COPY, PostgreSQL's bulk load, in the current transaction of connection.

    Args:
        connection: SQLAlchemy connection or session
        table: table name
        columns: column names
        rows: iterable of tuples: None, str, bytes (bytea), int, float or datetime values
    """

    rows = [[NULL if value is None else "\\x" + value.hex() if isinstance(value, bytes) else value for value in row] for row in rows]

    # A text that reads like the NULL marker: every value of that batch quoted, NULL as an unquoted empty field
    marker = any(value == NULL for row in rows for value in row if value is not NULL)

    data = io.StringIO()
    if marker:
        for row in rows:
            data.write(",".join("" if value is NULL else '"' + str(value).replace('"', '""') + '"' for value in row) + "\n")
        options = "FORMAT csv"
    else:
        csv.writer(data, lineterminator="\n").writerows(rows)
        options = f"FORMAT csv, NULL '{NULL}'"

    data.seek(0)
    session = connection.connection() if hasattr(connection, "get_bind") else connection
    with session.connection.driver_connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH ({options})", data)
