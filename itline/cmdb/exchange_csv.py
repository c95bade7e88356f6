"""CSV import of components with a column mapping, e.g. from a NetBox device export.

A mapping says which column feeds which field (``name=Name``, ``type=Role``,
``location=Site``, ``status=Status``, ``tags=Tags``, ``owner_function=Tenant``,
``attr.serial=Serial``), how column values translate (``--status-map active=in_use``,
``--type-map "Core Switch=network-device"``) and which value to use when a column is not
mapped or a cell is empty (``--default type=server``).

Each row creates a component or updates the one with the same type and name. Only the mapped
fields change: an update keeps the description, owner and other attributes the CSV does not
mention (attributes are merged key by key; tags are replaced). The checks, the transaction and
the journal are those of the structure import (:mod:`itline.cmdb.exchange`), and each error
names its file, line and column (``devices.csv:14:3``) and the column's header."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from itline.cmdb.choices import ComponentStatus
from itline.cmdb.exchange import Progress, Report, _Import, run_import
from itline.cmdb.exchange_io import ExchangeError, Locator, Problem, Source, decode, without_gc

FIELDS = ("name", "type", "status", "location", "description", "owner_function", "tags")
ATTR = "attr."
STATUSES = {str(v): str(v) for v in ComponentStatus.values} | {
    str(label).lower(): str(v) for v, label in ComponentStatus.choices
}
csv.field_size_limit(1024 * 1024)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """``["a=b", "c=d,e=f"]`` -> ``{"a": "b", "c": "d", "e": "f"}`` (keys as written)."""
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(",") if option != "map" else [value]:
            if not part.strip():
                continue
            key, sep, target = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{option}: {part!r} is not KEY=VALUE")
            out[key.strip()] = target.strip()
    return out


@dataclass
class CsvMapping:
    """Which column feeds which field, and how values translate."""

    fields: dict[str, str]  # field (name, type, ..., attr.<key>) -> column header
    statuses: dict[str, str] = field(default_factory=dict)  # value (lower case) -> status
    types: dict[str, str] = field(default_factory=dict)  # value (lower case) -> type slug
    defaults: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    delimiter: str | None = None
    prefix: str = "--"  # how messages name the options: --type-map (CLI) or type_map (API)

    def option(self, name: str) -> str:
        return f"--{name}" if self.prefix == "--" else name.replace("-", "_")

    @classmethod
    def parse(
        cls,
        *,
        fields: list[str],
        statuses: list[str] = (),  # type: ignore[assignment]
        types: list[str] = (),  # type: ignore[assignment]
        defaults: list[str] = (),  # type: ignore[assignment]
        encoding: str = "utf-8",
        delimiter: str | None = None,
        prefix: str = "--",
    ) -> CsvMapping:
        """Build a mapping from ``FIELD=COLUMN`` strings; errors name the option."""
        mapped = _pairs(list(fields), f"{prefix}map")
        default = _pairs(list(defaults), f"{prefix}default")
        for option, names in ((f"{prefix}map", mapped), (f"{prefix}default", default)):
            for name in names:
                if name not in FIELDS and not (name.startswith(ATTR) and len(name) > len(ATTR)):
                    raise ValueError(
                        f"{option}: {name!r} is not a field; the fields are {', '.join(FIELDS)} "
                        "and attr.<key> for an attribute"
                    )
        for name, column in mapped.items():
            if not column:
                raise ValueError(f"{prefix}map: {name}= names no column")
        for required in ("name", "type"):
            if required not in mapped and required not in default:
                raise ValueError(
                    f"{prefix}map: map a column to {required} (e.g. {required}={required.title()}) or give {prefix}default {required}=..."
                )
        status_map = {
            k.lower(): v for k, v in _pairs(list(statuses), f"{prefix}status-map").items()
        }
        for value, status in status_map.items():
            if status.lower() not in STATUSES:
                raise ValueError(
                    f"{prefix}status-map: {value}={status}: {status!r} is not one of {', '.join(ComponentStatus.values)}"
                )
            status_map[value] = STATUSES[status.lower()]
        if delimiter is not None and len(delimiter.replace("\\t", "\t")) != 1:
            raise ValueError(f"{prefix}delimiter: one character, e.g. ';'")
        try:
            "".encode(encoding)
        except LookupError:
            raise ValueError(f"{prefix}encoding: unknown encoding {encoding!r}") from None
        return cls(
            fields=mapped,
            statuses=status_map,
            types={k.lower(): v for k, v in _pairs(list(types), f"{prefix}type-map").items()},
            defaults=default,
            encoding=encoding,
            delimiter=delimiter.replace("\\t", "\t") if delimiter else None,
            prefix=prefix,
        )


class _CellLocator(Locator):
    __slots__ = ("columns", "file", "line")

    def __init__(self, file: str, line: int, columns: dict[str, int]) -> None:
        self.file, self.line, self.columns = file, line, columns

    def __call__(self, *path: str | int) -> str:
        key = path[0] if path else None
        if key == "attributes" and len(path) > 1:
            key = f"{ATTR}{path[1]}"
        column = self.columns.get(str(key)) if key is not None else None
        return f"{self.file}:{self.line}" + (f":{column}" if column else "")


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A cell's text as the JSON type the attribute schema asks for, when it reads as one;
    otherwise the text, so the schema check reports it."""
    kind = schema.get("type")
    text = value.strip()
    if kind == "integer" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        number = float(text)
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
    if kind == "boolean" and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    return value


def _reader(text: str, mapping: CsvMapping) -> Any:
    delimiter = mapping.delimiter
    if delimiter is None:
        header = text.split("\n", 1)[0]
        counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def read_rows(
    source: Source, mapping: CsvMapping, problems: list[Problem]
) -> list[tuple[dict[str, Any], Locator]]:
    """The rows as component records in file terms (only mapped or defaulted fields)."""
    text = decode(source, mapping.encoding)
    reader = _reader(text, mapping)
    name = source.name
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        problems.append(
            Problem(f"{name}:1", "the file is empty; the first line must name the columns")
        )
        return []
    except csv.Error as exc:
        problems.append(Problem(f"{name}:1", f"is not valid CSV: {exc}"))
        return []
    index = {h: i for i, h in enumerate(header)}
    columns: dict[str, int] = {}
    for target, column in mapping.fields.items():
        if column not in index:
            lowered = {h.lower(): i for h, i in index.items()}
            if column.lower() in lowered:
                columns[target] = lowered[column.lower()] + 1
                continue
            problems.append(
                Problem(
                    f"{name}:1",
                    f"map {target}={column}: no column {column!r}; the columns are: {', '.join(header)}",
                )
            )
        else:
            columns[target] = index[column] + 1
    if problems:
        return []
    rows: list[tuple[dict[str, Any], Locator]] = []
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(f"{name}:{reader.line_num}", f"is not valid CSV: {exc}"))
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                Problem(f"{name}:{start}", f"has {len(row)} fields, the header has {len(header)}")
            )
            continue
        data: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        for target in {*mapping.fields, *mapping.defaults}:
            value = row[columns[target] - 1].strip() if target in columns else ""
            if not value:
                value = mapping.defaults.get(target, "")
            if not value:
                continue
            if target.startswith(ATTR):
                attributes[target[len(ATTR) :]] = value
            elif target == "tags":
                data["tags"] = [t.strip() for t in re.split(r"[,;]", value) if t.strip()]
            else:
                data[target] = value
        if attributes:
            data["attributes"] = attributes
        rows.append((data, _CellLocator(name, start, columns)))
    return rows


@without_gc
def import_components_csv(
    source: Source,
    mapping: CsvMapping,
    *,
    by: Any = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    bulk_threshold: int | None = None,
) -> Report:
    """Create or update components from a CSV file. Raises :class:`ExchangeError` with every
    problem (nothing changed), ``PermissionDenied`` when ``by`` may not make a change."""
    problems: list[Problem] = []
    rows = read_rows(source, mapping, problems)
    if problems and not rows:
        raise ExchangeError(problems)

    def fill(imp: _Import) -> None:
        imp.problems.extend(problems)  # ragged rows; the others are still checked
        imp.progress.phase("checking", len(rows))
        types = imp.state.types
        by_name = {t.name.lower(): slug for slug, t in types.items()}
        seen = imp.items.setdefault("components", {})
        for data, where in rows:
            imp.progress.advance()
            ok = True
            raw_type = data.get("type")
            if raw_type is not None:
                slug: str | None = mapping.types.get(raw_type.lower(), raw_type)
                if slug not in types:
                    lowered = str(slug).lower()
                    slug = by_name.get(lowered) or (lowered if lowered in types else None)
                if slug is None:
                    imp.problem(
                        where("type"),
                        f"{_column(mapping, 'type')}unknown component type {raw_type!r}; map it with {mapping.option('type-map')} '{raw_type}=<type>' (types: {', '.join(sorted(types))})",
                    )
                    ok = False
                data["type"] = slug
            raw_status = data.get("status")
            if raw_status is not None:
                status = mapping.statuses.get(raw_status.lower()) or STATUSES.get(
                    raw_status.lower()
                )
                if status is None:
                    imp.problem(
                        where("status"),
                        f"{_column(mapping, 'status')}{raw_status!r} is not a component status ({', '.join(ComponentStatus.values)}); map it with {mapping.option('status-map')} '{raw_status}=<status>'",
                    )
                    ok = False
                data["status"] = status
            if ok and "attributes" in data and data["type"] in types:
                properties = (types[data["type"]].attribute_schema or {}).get("properties", {})
                data["attributes"] = {
                    k: _coerce(v, properties.get(k, {})) for k, v in data["attributes"].items()
                }
            if ok:
                imp.add_component(data, where, partial=True, seen=seen)

    kwargs = {} if bulk_threshold is None else {"bulk_threshold": bulk_threshold}
    return run_import(fill, by=by, dry_run=dry_run, prune=False, progress=progress, **kwargs)


def _column(mapping: CsvMapping, target: str) -> str:
    column = mapping.fields.get(target)
    return f"{column}: " if column else ""
