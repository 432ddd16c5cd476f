"""The evidence bundle: one ZIP64 file, hashed as it is written, verifiable by anyone (docs/bundle-format.md)."""

BUNDLE_FORMAT_VERSION = 1
FILES_PREFIX = "files/"
META_PREFIX = "meta/"
VOLATILE_PREFIX = "volatile/"
JOURNAL_PREFIX = "meta/journal/"
MANIFEST_NAME = "meta/manifest.jsonl"
COLLECTION_NAME = "meta/collection.json"
LOG_NAME = "meta/collection.log"
