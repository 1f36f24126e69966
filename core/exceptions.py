class ApplicationError(Exception):
    """An expected business failure. `message` is safe to show; `extra` is for developers."""

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
