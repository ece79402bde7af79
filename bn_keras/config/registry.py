"""Declarations by name (datasets, networks): what a flag may name, registered once each."""

from __future__ import annotations

from typing import Generic, TypeVar

from bn_keras.common.errors import ConfigError

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """The declarations `--<setting>` may name, by their `name`, in the order registered."""

    def __init__(self, setting: str):
        super().__init__()
        self.setting = setting

    def register(self, declaration: T) -> T:
        """Adds a declaration, by its name.

        Raises:
            ValueError: a declaration of that name is registered already.
        """
        name = declaration.name
        if name in self:
            raise ValueError(f"a {self.setting} named {name!r} is registered already")
        self[name] = declaration
        return declaration

    def lookup(self, name: str) -> T:
        """The declaration registered as `name`.

        Raises:
            ConfigError: none has that name.
        """
        if name not in self:
            raise ConfigError(f"--{self.setting}={name!r} is unknown: use one of {', '.join(self)}")
        return self[name]
