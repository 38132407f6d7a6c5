"""One error base class for everything this library reports to a person.

Every failure that a user can cause — a bad file, a wrong key, a GPU that is
gone — is raised as an :class:`AttestError` subclass whose message is written
for the person who ran the command. The CLI catches this one type and prints
:meth:`AttestError.diagnostics`, so no traceback ever reaches a user. Errors
are grouped by origin: input, keys, trust, envelopes, hardware.
"""

from __future__ import annotations

from attest.units import human_size


class AttestError(Exception):
    """Base class of every error this library raises on purpose.

    Args:
        message: what went wrong, in one sentence a user can act on.
        hint: optionally, what to do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """Return the message (and hint) as shown to a person on stderr."""
        text = f"error: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class InputError(AttestError):
    """A file or argument could not be read or does not have the expected shape."""


class InputTooLarge(InputError):
    """An input is over the size limit for what it is: refused whole, no prefix of it used.

    Attributes:
        size: its size in bytes (a lower bound when ``exact`` is False: a stream read no further).
        limit: the limit it is over, in bytes.
    """

    def __init__(
        self, what: str, size: int, limit: int, *, exact: bool = True, hint: str | None = None
    ) -> None:
        said = human_size(size) if exact else f"more than {human_size(size)}"
        super().__init__(
            f"{what} is {said}, over the limit of {human_size(limit)}; nothing of it was used", hint=hint
        )
        self.size = size
        self.limit = limit
        self.exact = exact


class Unreachable(InputError):
    """A remote service could not be reached (a network error): nothing is known about what it would say."""


class KeyFileError(AttestError):
    """A key file is missing, malformed, of an unsupported kind or unsafely readable."""


class TrustStoreError(AttestError):
    """The trust store file is unreadable, malformed or asked for an impossible change."""


class EnvelopeError(AttestError):
    """An envelope is not a well-formed DSSE envelope of the expected type.

    Attributes:
        rule: the stable rule id of the finding this error becomes in a result.
    """

    def __init__(self, message: str, *, rule: str = "envelope.malformed", hint: str | None = None):
        super().__init__(message, hint=hint)
        self.rule = rule


class SignatureError(AttestError):
    """A signature does not verify."""


class HardwareError(AttestError):
    """GPU identity could not be read (no driver, no permission, GPU lost, ...)."""
