"""Write a generated data file whole or not at all (shared by the converters in tools/data/)."""

import os


def write_text(path, text):
    """Writes `text` to `path` through a temporary file beside it, so no half-written file is left."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)
