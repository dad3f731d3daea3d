"""Read-only views of a half-resolved config, handed to ``sample_from`` functions.

A view raises :class:`Unresolved` when a function touches a value that another
``sample_from`` has not produced yet, so the resolver can retry it on a later pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

Path = tuple[str | int, ...]


class _Pending:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<pending sample_from>"


#: Placeholder for a ``sample_from`` value not evaluated yet.
PENDING: Any = _Pending()


class Unresolved(Exception):  # noqa: N818 - control flow between resolver passes
    """A ``sample_from`` function read a value that is still pending."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.path = path


def _wrap(value: Any, path: Path) -> Any:
    if value is PENDING:
        raise Unresolved(path)
    if type(value) is dict:
        return ConfigView(value, path)
    if type(value) is list:
        return ListView(value, path)
    return value


class ConfigView(Mapping[str, Any]):
    """Dict view with attribute access too (``spec.config.lr``), as Ray's spec offers."""

    __slots__ = ("_data", "_path")

    def __init__(self, data: dict[str, Any], path: Path = ()) -> None:
        self._data = data
        self._path = path

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._data[key], (*self._path, key))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ConfigView({self._data!r})"

    def to_dict(self) -> dict[str, Any]:
        """A plain deep copy (raises Unresolved if anything inside is still pending)."""
        return {k: unview(self[k]) for k in self._data}


class ListView(Sequence[Any]):
    """List view of a config list, raising Unresolved on pending items."""

    __slots__ = ("_data", "_path")

    def __init__(self, data: list[Any], path: Path) -> None:
        self._data = data
        self._path = path

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._data))[index]]
        if index < 0:
            index += len(self._data)
        return _wrap(self._data[index], (*self._path, index))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ListView({self._data!r})"


def unview(value: Any) -> Any:
    """Turn views (e.g. returned by a function as-is) back into plain containers."""
    if isinstance(value, ConfigView):
        return value.to_dict()
    if isinstance(value, ListView):
        return [unview(v) for v in value]
    return value


class Spec:
    """What a ``sample_from`` function receives: ``spec.config`` is the config so far.

    As a convenience, other keys and attributes are looked up in the config, so
    ``lambda config: config["a"]`` works too (``spec["config"]`` is always the config).
    """

    __slots__ = ("config",)

    def __init__(self, config: ConfigView) -> None:
        self.config = config

    def __getitem__(self, key: str) -> Any:
        if key == "config":
            return self.config
        return self.config[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.config, name)

    def __repr__(self) -> str:
        return f"Spec(config={self.config._data!r})"
