"""A strict name -> object registry (timm / lm-eval-harness style).

Duplicate names raise; unknown names raise with the valid names and the closest matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the valid names and close matches."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message plainly.
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects of one kind (``kind`` appears in every error message)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")``."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if not name or not name.replace("_", "").isalnum() or name != name.lower():
            raise ValueError(
                f"{self.kind} name {name!r} is invalid: use lower_snake_case letters and digits, "
                "the same name as its YAML file."
            )
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(
                f"{self.kind} {name!r} is already registered (by {self._entries[name]!r}); pick another name."
            )
        self._entries[name] = obj

    def remove(self, name: str) -> None:
        """Unregister ``name`` (an unknown name raises :class:`UnknownNameError`)."""
        self.get(name)
        del self._entries[name]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Valid {self.kind} names: {', '.join(sorted(self._entries))}."

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
