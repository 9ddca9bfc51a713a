"""argparse options generated from a run dataclass's fields: the dataclass is the CLI (cleanrl's ``Args``).

Each option's type, default and choices come from the field, its help from the field's
``metadata["help"]`` or, as cleanrl / tyro read it, the docstring written under the field. A
default is therefore defined once, in the dataclass the command builds.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any


@functools.cache
def _docstrings(cls: type) -> dict[str, str]:
    """``{field: the string literal under it}`` for ``cls`` and its dataclass bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # no source (frozen app): options without help
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def field_help(cls: type, name: str) -> str | None:
    """The help of ``cls``'s field ``name``: its ``metadata["help"]``, else the docstring under it."""
    return fields_of(cls)[name].metadata.get("help", _docstrings(cls).get(name))


def field_default(f: dataclasses.Field) -> Any:
    """The field's default value (a factory's product for mutable defaults)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ValueError(f"field {f.name} has no default")


def fields_of(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _argparse_type(hint: Any) -> tuple[type, bool]:
    """``(element type, takes several values)`` of a field's annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # `X | None`: an optional X
        (hint,) = (a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return typing.get_args(hint)[0], True
    return hint, False


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Iterable[str],
    *,
    defaults: Mapping[str, Any] | None = None,
    help: Mapping[str, str] | None = None,  # noqa: A002 - argparse's own word
    flags: Mapping[str, str] | None = None,
    choices: Mapping[str, Iterable[Any]] | None = None,
    required: Iterable[str] = (),
) -> None:
    """Add one option per field of ``cls`` in ``names``.

    ``defaults`` replaces a field's default (e.g. a nested config's value in the run dataclass),
    ``help`` a field's help, ``flags`` its flag (``--from`` for ``init_from``), ``choices`` its
    allowed values (else ``metadata["choices"]``); a ``required`` option has no default.
    """
    hints = typing.get_type_hints(cls)
    fields = fields_of(cls)
    defaults, help, flags, required = dict(defaults or {}), dict(help or {}), dict(flags or {}), set(required)
    for name in names:
        f = fields[name]
        flag = flags.get(name, flag_of(name))
        kwargs: dict[str, Any] = {"dest": name}
        text = help.get(name, field_help(cls, name))
        if text is not None:  # reST literals read as plain quotes in a terminal
            kwargs["help"] = text.replace("``", "`").replace("%", "%%")
        if name in required:
            kwargs["required"] = True
        else:
            kwargs["default"] = defaults[name] if name in defaults else field_default(f)
        kind, several = _argparse_type(hints[name])
        if kind is bool:
            if kwargs.get("default"):
                raise ValueError(f"{cls.__name__}.{name}: a flag must default to False")
            parser.add_argument(flag, action="store_true", **kwargs)
            continue
        if several:
            kwargs["nargs"] = "+"
            if isinstance(kwargs.get("default"), tuple):
                kwargs["default"] = list(kwargs["default"])
        allowed = (choices or {}).get(name, f.metadata.get("choices"))
        if allowed is not None:
            kwargs["choices"] = list(allowed)
        # The metavar argparse would derive from the flag, whatever the field's name.
        kwargs["metavar"] = None if "choices" in kwargs else flag.lstrip("-").replace("-", "_").upper()
        parser.add_argument(flag, type=kind, **kwargs)


def values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The parsed values of ``names`` (dests are the field names), to build the dataclass with."""
    return {name: getattr(args, name) for name in names}


class LazySubParsers(argparse._SubParsersAction):
    """Sub-commands whose options are added only when that command is parsed.

    The run dataclasses the options come from import torch; ``worldfm --help`` and every other
    command should not pay for the modules of commands that do not run.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._options: dict[str, typing.Callable[[argparse.ArgumentParser], None]] = {}

    def add_parser(  # type: ignore[override]
        self,
        name: str,
        *,
        options: typing.Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> argparse.ArgumentParser:
        """A sub-command; ``options(parser)`` adds its options when it is first parsed."""
        parser = super().add_parser(name, **kwargs)
        if options is not None:
            self._options[name] = options
        return parser

    def build(self, name: str) -> argparse.ArgumentParser:
        """The sub-command's parser with its options."""
        options = self._options.pop(name, None)
        if options is not None:
            options(self._name_parser_map[name])
        return self._name_parser_map[name]

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        if values and values[0] in self._name_parser_map:
            self.build(values[0])
        super().__call__(parser, namespace, values, option_string)


def build_all(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with every sub-command's options added (to inspect or document them all)."""
    for action in parser._actions:
        if isinstance(action, LazySubParsers):
            for name in list(action.choices):
                build_all(action.build(name))
    return parser
