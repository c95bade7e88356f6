"""Reading structure files safely: size limit, encoding, YAML and JSON with line numbers.

Nothing here knows about services or components. It turns bytes into :class:`Tree` values
that know where they came from (``components.yaml:42``), so every error of an import can name
its place. YAML is composed into nodes (libyaml when present) and converted by hand: that keeps
the line of every record and field, refuses aliases (no "billion laughs") and keeps dates as
plain strings. JSON is parsed with orjson; line numbers are only worked out when an error has
to be reported (:class:`JsonLines`), so a clean import pays nothing for them."""

from __future__ import annotations

import functools
import gc
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from django.conf import settings

# libyaml's composer is several times faster than the pure-Python one; both give marks.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.SafeLoader("")  # only its scalar constructors are used

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


def without_gc[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with the cyclic garbage collector paused. An import or export makes
    millions of short-lived objects (YAML nodes, records, rows) without cycles, and the
    collector would walk the growing heap again and again: composing the 100,000-component
    YAML took 4.7 s with it and 1.3 s without. Reference counting still frees everything."""

    @functools.wraps(func)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


BOM = b"\xef\xbb\xbf"


def max_bytes() -> int:
    """The import size limit: ``ITLINE_IMPORT_MAX_BYTES`` (settings) or 256 MiB."""
    return int(getattr(settings, "ITLINE_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, at ``where`` (``file:line`` or ``file:line:column``)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ExchangeError(Exception):
    """The input cannot be imported; ``problems`` lists every reason with its place."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        n = len(problems)
        super().__init__(f"{n} error{'s' if n != 1 else ''}; nothing was changed")

    def __str__(self) -> str:
        return "\n".join([self.args[0], *(f"  {p}" for p in self.problems)])


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def parse_size(text: str) -> int:
    """``"500M"``, ``"2G"``, ``"1048576"`` -> bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 300M, 2G)")
    factor = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[(match.group(2) or "")[:1]]
    return int(match.group(1)) * factor


@dataclass(slots=True)
class Source:
    """One input file: a display name (used in messages), its bytes, and its format when
    the name's extension does not say it (yaml or json)."""

    name: str
    data: bytes
    fmt: str | None = None


def too_big(name: str, size: int, limit: int, hint: str) -> Problem:
    return Problem(
        name,
        f"is {human_size(size)}, more than the import limit of {human_size(limit)}; {hint}",
    )


def read_file(path: Path, *, name: str, limit: int, hint: str) -> Source:
    size = path.stat().st_size
    if size > limit:
        raise ExchangeError([too_big(name, size, limit, hint)])
    return Source(name, path.read_bytes())


def decode(source: Source, encoding: str = "utf-8") -> str:
    """The text of ``source``: UTF-8 (a BOM is accepted) unless another encoding is named.
    Undecodable bytes are reported with their offset, line and column."""
    data = source.data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and encoding.lower().replace("_", "-") in (
        "utf-8",
        "utf8",
    ):
        raise ExchangeError(
            [
                Problem(
                    f"{source.name}:1",
                    "is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8",
                )
            ]
        )
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        offset = exc.start + (len(BOM) if source.data.startswith(BOM) else 0)
        raise ExchangeError(
            [
                Problem(
                    f"{source.name}:{line}:{column}",
                    f"is not valid {encoding}: byte 0x{data[exc.start]:02x} at byte offset "
                    f"{offset} (line {line}, column {column}) cannot be decoded; save the file "
                    "as UTF-8" + (" or name its encoding with --encoding" if encoding else ""),
                )
            ]
        ) from None
    except LookupError:
        raise ExchangeError([Problem(source.name, f"unknown encoding {encoding!r}")]) from None
    return text


# --- located values -----------------------------------------------------------------------


class Tree:
    """A parsed value that knows its place. ``kind`` is "map", "list" or "scalar"."""

    kind: str
    file: str

    @property
    def where(self) -> str:
        raise NotImplementedError

    @property
    def key_where(self) -> str:
        """For a map entry's value: the place of its key (where a reader looks)."""
        return self.where

    def entries(self) -> Iterator[tuple[str, Tree]]:
        """Key and value of each entry of a map (keys must be strings)."""
        raise NotImplementedError

    def items(self) -> Iterator[Tree]:
        raise NotImplementedError

    def size(self) -> int:
        """How many entries or items (0 for a scalar): the length of a progress bar."""
        raise NotImplementedError

    def value(self) -> Any:
        """The plain Python value (dicts, lists, str, int, float, bool, None)."""
        raise NotImplementedError

    def record(self) -> tuple[dict[str, Any], Locator]:
        """A map converted to a dict, with a locator for its fields (one level deep)."""
        raise NotImplementedError


class Locator:
    """Finds the line of a field inside one record: ``where("attributes", "cpu")``."""

    def __call__(self, *path: str | int) -> str:
        raise NotImplementedError


class FormatProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# YAML ----------------------------------------------------------------------------------------

_STR = "tag:yaml.org,2002:str"
_SCALARS = {
    "tag:yaml.org,2002:int": _constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _constructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": _constructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": _constructor.construct_yaml_null,
}
# Dates stay the text they were written as: attributes are JSON, which has no dates.
_AS_TEXT = {_STR, "tag:yaml.org,2002:timestamp"}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class _YamlConverter:
    """Converts a node to Python, refusing aliases of collections and unknown tags."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.seen: set[int] = set()

    def fail(self, node: Any, message: str) -> FormatProblem:
        return FormatProblem(Problem(f"{self.file}:{node.start_mark.line + 1}", message))

    def key(self, node: Any) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _AS_TEXT:
            raise self.fail(node, "keys must be plain text")
        return str(node.value)

    def convert(
        self, node: Any, lines: dict[tuple[Any, ...], int] | None = None, path: tuple[Any, ...] = ()
    ) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _AS_TEXT:
                return node.value
            construct = _SCALARS.get(node.tag)
            if construct is None:
                raise self.fail(node, f"the YAML tag {node.tag} is not supported here")
            return construct(node)
        if id(node) in self.seen:
            raise self.fail(
                node, "aliases (*name) of lists and maps are not supported in structure files"
            )
        self.seen.add(id(node))
        record = lines is not None and len(path) < 2
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise self.fail(node, f"the YAML tag {node.tag} is not supported here")
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.key(key_node)
                if key in out:
                    raise self.fail(key_node, f"duplicate key {key!r}")
                if record:
                    assert lines is not None
                    lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.convert(value_node, lines, (*path, key))
            return out
        if node.tag != _SEQ:
            raise self.fail(node, f"the YAML tag {node.tag} is not supported here")
        items = []
        for i, item in enumerate(node.value):
            if record:
                assert lines is not None
                lines[(*path, i)] = item.start_mark.line + 1
            items.append(self.convert(item, lines, (*path, i)))
        return items


class _YamlLocator(Locator):
    __slots__ = ("file", "line", "lines")

    def __init__(self, file: str, line: int, lines: dict[tuple[Any, ...], int]) -> None:
        self.file, self.line, self.lines = file, line, lines

    def __call__(self, *path: str | int) -> str:
        for n in range(len(path), 0, -1):
            line = self.lines.get(path[:n])
            if line is not None:
                return f"{self.file}:{line}"
        return f"{self.file}:{self.line}"


class YamlTree(Tree):
    __slots__ = ("conv", "file", "key_node", "kind", "node")

    def __init__(self, node: Any, conv: _YamlConverter, key_node: Any = None) -> None:
        self.node, self.conv, self.file, self.key_node = node, conv, conv.file, key_node
        self.kind = (
            "map"
            if isinstance(node, yaml.MappingNode)
            else "list"
            if isinstance(node, yaml.SequenceNode)
            else "scalar"
        )

    @property
    def where(self) -> str:
        return f"{self.file}:{self.node.start_mark.line + 1}"

    @property
    def key_where(self) -> str:
        node = self.key_node or self.node
        return f"{self.file}:{node.start_mark.line + 1}"

    def entries(self) -> Iterator[tuple[str, Tree]]:
        keys: set[str] = set()
        for key_node, value_node in self.node.value:
            key = self.conv.key(key_node)
            if key in keys:
                raise self.conv.fail(key_node, f"duplicate key {key!r}")
            keys.add(key)
            yield key, YamlTree(value_node, self.conv, key_node)

    def items(self) -> Iterator[Tree]:
        for item in self.node.value:
            yield YamlTree(item, self.conv)

    def size(self) -> int:
        return 0 if self.kind == "scalar" else len(self.node.value)

    def value(self) -> Any:
        try:
            return self.conv.convert(self.node)
        except RecursionError:
            raise self.conv.fail(self.node, "nested too deeply") from None

    def record(self) -> tuple[dict[str, Any], Locator]:
        lines: dict[tuple[Any, ...], int] = {}
        try:
            data = self.conv.convert(self.node, lines)
        except RecursionError:
            raise self.conv.fail(self.node, "nested too deeply") from None
        return data, _YamlLocator(self.file, self.node.start_mark.line + 1, lines)


class _Reading(io.StringIO):
    """Text that tells the progress bar how much of it the parser has read."""

    def __init__(self, text: str, advance: Any) -> None:
        super().__init__(text)
        self.advance = advance

    def read(self, size: int | None = -1) -> str:
        chunk = super().read(size)
        self.advance(len(chunk))
        return chunk


def load_yaml(name: str, text: str, advance: Any = None) -> Tree | None:
    """The document of ``text`` (None when empty); syntax errors name line and column."""
    try:
        node = yaml.compose(_Reading(text, advance) if advance else text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        message = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ExchangeError([Problem(where, f"is not valid YAML: {message}")]) from None
    except yaml.YAMLError as exc:  # a reader error: a control character, say
        raise ExchangeError([Problem(name, f"is not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ExchangeError([Problem(name, "is not valid here: nested too deeply")]) from None
    return None if node is None else YamlTree(node, _YamlConverter(name))


# JSON ----------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(
    r'[ \t\r\n]*(?:"((?:[^"\\]|\\.)*)"|([{}\[\]:,])|([^ \t\r\n{}\[\]:,"]+))', re.S
)


class JsonLines:
    """Line numbers of the values of a JSON text by path, worked out on first use. The text
    has been parsed successfully already, so this scanner can trust its syntax."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: dict[tuple[Any, ...], int] | None = None

    def line(self, path: tuple[Any, ...]) -> int:
        if self._lines is None:
            self._lines = self._scan()
        for n in range(len(path), -1, -1):
            line = self._lines.get(path[:n])
            if line is not None:
                return line
        return 1

    def _scan(self) -> dict[tuple[Any, ...], int]:
        text = self.text
        lines: dict[tuple[Any, ...], int] = {}
        stack: list[list[Any]] = []  # [kind, key or index, expecting a key]
        line, last = 1, 0
        pos = 0
        while True:
            match = _JSON_TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                break
            string, punct, _literal = match.groups()
            start = match.start(match.lastindex or 0) - (1 if string is not None else 0)
            line += text.count("\n", last, start)
            last, pos = start, match.end()
            frame = stack[-1] if stack else None
            if punct in ("}", "]"):
                stack.pop()
                continue
            if punct == ",":
                if frame and frame[0] == "list":
                    frame[1] += 1
                elif frame:
                    frame[2] = True
                continue
            if punct == ":":
                continue
            if frame and frame[0] == "map" and frame[2]:
                frame[1], frame[2] = json.loads(f'"{string}"'), False
                continue
            path = tuple(f[1] for f in stack)
            lines.setdefault(path, line)
            if punct == "{":
                stack.append(["map", None, True])
            elif punct == "[":
                stack.append(["list", 0, False])
        return lines


class _JsonLocator(Locator):
    __slots__ = ("file", "lines", "path")

    def __init__(self, file: str, lines: JsonLines, path: tuple[Any, ...]) -> None:
        self.file, self.lines, self.path = file, lines, path

    def __call__(self, *path: str | int) -> str:
        return f"{self.file}:{self.lines.line((*self.path, *path))}"


class JsonTree(Tree):
    __slots__ = ("data", "file", "kind", "lines", "path")

    def __init__(self, data: Any, file: str, lines: JsonLines, path: tuple[Any, ...]) -> None:
        self.data, self.file, self.lines, self.path = data, file, lines, path
        self.kind = (
            "map" if isinstance(data, dict) else "list" if isinstance(data, list) else "scalar"
        )

    @property
    def where(self) -> str:
        return f"{self.file}:{self.lines.line(self.path)}"

    def entries(self) -> Iterator[tuple[str, Tree]]:
        for key, value in self.data.items():
            yield key, JsonTree(value, self.file, self.lines, (*self.path, key))

    def items(self) -> Iterator[Tree]:
        for i, value in enumerate(self.data):
            yield JsonTree(value, self.file, self.lines, (*self.path, i))

    def size(self) -> int:
        return 0 if self.kind == "scalar" else len(self.data)

    def value(self) -> Any:
        return self.data

    def record(self) -> tuple[dict[str, Any], Locator]:
        return self.data, _JsonLocator(self.file, self.lines, self.path)


def load_json(name: str, text: str) -> Tree | None:
    if not text.strip():
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ExchangeError(
            [Problem(f"{name}:{exc.lineno}:{exc.colno}", f"is not valid JSON: {exc.msg}")]
        ) from None
    return JsonTree(data, name, JsonLines(text), ())


def load(name: str, text: str, fmt: str, advance: Any = None) -> Tree | None:
    """Parse ``text``; ``advance(n)`` is told as the parser gets through it (YAML only: JSON
    parses in a blink)."""
    return load_json(name, text) if fmt == "json" else load_yaml(name, text, advance)


def format_of(name: str, default: str = "yaml") -> str:
    suffix = Path(name).suffix.lower()
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}.get(suffix, default)


# --- writing ------------------------------------------------------------------------------


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Block style; multi-line text as ``|`` blocks so descriptions diff line by line."""


def _str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_STR, value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
        indent=2,
    )


def dump_json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def dump(data: Any, fmt: str) -> str:
    return dump_json(data) if fmt == "json" else dump_yaml(data)


# --- progress -----------------------------------------------------------------------------


class Progress:
    """Told what an import is doing; the CLI draws a bar, the API ignores it."""

    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


class RichProgress(Progress):
    """A rich progress bar: one bar per phase (reading, checking, writing). Drawn only for
    large inputs, where a bar tells more than noise."""

    MIN_TOTAL = 2_000

    def __init__(self, console: Any, *, enabled: bool = True) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.enabled = enabled
        self.bar = Progress(
            TextColumn("[bold]{task.description:<9}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.started = False

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        if self.started:
            self.bar.stop()

    def _finish(self) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.task = None

    def phase(self, name: str, total: int) -> None:
        self._finish()
        if self.enabled and total >= self.MIN_TOTAL:
            if not self.started:
                self.bar.start()
                self.started = True
            self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)
