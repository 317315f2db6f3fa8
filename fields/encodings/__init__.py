"""Input encodings: modules that map coordinates to feature vectors for a field's networks."""
from fields.encodings.hash_encoding import HashEncoding

__all__ = ["HashEncoding"]
