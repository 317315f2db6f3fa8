"""Errors raised by the scene loaders. Each message names the file at fault and says what to do."""


class SceneNotFoundError(FileNotFoundError):
    """A scene could not be found in any of the places searched."""


class SceneFileMissingError(FileNotFoundError):
    """A file that a scene refers to (a split's transforms file, an image) does not exist."""


class SceneFormatError(ValueError):
    """A scene file exists but its content is malformed (bad JSON, corrupt image, inconsistent sizes...)."""


class SceneTooLargeError(ValueError):
    """A scene's decoded images would not fit in the memory available."""
