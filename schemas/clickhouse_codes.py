"""ClickHouse server error codes meshpipe acts on, and the groups of them that decide what it does.

Names are the server's (ErrorCodes.cpp); clickhouse-driver reports its own socket failures as
SOCKET_TIMEOUT and NETWORK_ERROR, and no code at all when it could not connect.
"""

from __future__ import annotations

CANNOT_PARSE_TEXT = 6
NO_SUCH_COLUMN_IN_TABLE = 16
CANNOT_PARSE_INPUT_ASSERTION_FAILED = 27
COLUMN_EXISTS = 44  # 18.16: "Cannot add column ...: column with this name already exists"
UNKNOWN_IDENTIFIER = 47
TYPE_MISMATCH = 53
UNKNOWN_TABLE = 60
SYNTAX_ERROR = 62
UNKNOWN_DATABASE = 81
READONLY = 164  # a readonly=1 profile may not change settings (unless to their value)
UNKNOWN_USER = 192
WRONG_PASSWORD = 193
SOCKET_TIMEOUT = 209
NETWORK_ERROR = 210
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516

# No answer from the server (None: the driver never connected).
UNREACHABLE: frozenset[int | None] = frozenset({None, SOCKET_TIMEOUT, NETWORK_ERROR})
# The schema was never applied to this server.
NO_SCHEMA = frozenset({UNKNOWN_TABLE, UNKNOWN_DATABASE})
# A schema older than the code reading it (a column or identifier it does not have yet).
OLD_SCHEMA = frozenset({NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_IDENTIFIER})
# The rows or the schema are wrong, or the user may not write: retrying cannot help.
PERMANENT = frozenset(
    {
        CANNOT_PARSE_TEXT,
        NO_SUCH_COLUMN_IN_TABLE,
        CANNOT_PARSE_INPUT_ASSERTION_FAILED,
        UNKNOWN_IDENTIFIER,
        TYPE_MISMATCH,
        UNKNOWN_TABLE,
        SYNTAX_ERROR,
        UNKNOWN_DATABASE,
        READONLY,
        UNKNOWN_USER,
        WRONG_PASSWORD,
        ACCESS_DENIED,
        AUTHENTICATION_FAILED,
    }
)
