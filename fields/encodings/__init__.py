"""Input encodings: modules that map coordinates to feature vectors for a field's networks."""
from fields.encodings.hash_encoding import HashEncoding
from fields.encodings.positional import PositionalEncoding

__all__ = ["HashEncoding", "PositionalEncoding"]
