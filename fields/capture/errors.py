"""The one error type of capture processing: its message is a complete sentence telling the user what to do."""


class CaptureError(Exception):
    """Bad input or a failed stage; ``apps/process_data.py`` prints it as one ``error: ...`` line."""
