"""Small helpers every layer shares: atomic file writes, canonical JSON and hashes, type checks."""
from ecabench.util.checks import check_int, is_int, is_number
from ecabench.util.files import atomic_write, atomic_write_json, atomic_write_text
from ecabench.util.hashing import canonical_json, short_hash

__all__ = ["atomic_write", "atomic_write_json", "atomic_write_text", "canonical_json", "check_int", "is_int",
           "is_number", "short_hash"]
