"""The one exception type of the LMX representation layer.

Kept in its own module so that the linearizer, the file reader and the CLI can
raise and catch it without importing each other. It is a `UserError`, so every entry
point reports it as one `error:` line.
"""

from mt_music.errors import UserError


class LmxError(UserError, ValueError):
    """Input that the LMX layer cannot represent or read (one-line message).

    Raised by `linearize` for unsupported MusicXML (several parts, more than
    three staves, score-timewise, unreadable file, values outside the
    vocabulary) and by `read_lmx_file` for unreadable LMX files. The
    delinearizer never raises it: it reports problems instead.
    """
