"""The live browser viewer (viser): ``Viewer`` serves any field; ``TrainingLink`` connects a running trainer."""
from fields.viewer.server import Viewer, ViewerError, check_port
from fields.viewer.training import TrainingLink

__all__ = ["TrainingLink", "Viewer", "ViewerError", "check_port"]
