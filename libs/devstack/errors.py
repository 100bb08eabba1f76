class StackError(RuntimeError):
    """The local stack cannot start; the message says what to do in one sentence."""
