"""The prompts file of a batch bake (JSONL or CSV), validated as a whole before anything runs.

Each item: prompt (required), seconds (1-10, default 5), seed (default 0), candidates (1-8, default 1),
rig_a / rig_b (armature names in the template .blend, optional) and name (the output name; default: the
line number and the prompt). Errors name the line; valid lines still bake."""

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

FIELDS = {"prompt", "seconds", "seed", "candidates", "rig_a", "rig_b", "name"}
MAX_PROMPT = 1000


@dataclass(frozen=True)
class Item:
    line: int
    name: str
    prompt: str
    seconds: float = 5.0
    seed: int = 0
    candidates: int = 1
    rig_a: str = ""
    rig_b: str = ""


def slug(text, limit=40):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "item"


def _number(row, key, kind, low, high, default):
    value = row.get(key)
    if value in (None, ""):
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"'{key}' must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"'{key}' is {number}; allowed {low} to {high}")
    return number


def item_from(row, line):
    if not isinstance(row, dict):
        raise ValueError("expected an object with at least a 'prompt'")
    unknown = sorted(set(row) - FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(FIELDS))}")
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' is missing or empty")
    prompt = " ".join(prompt.split())
    if len(prompt) > MAX_PROMPT:
        raise ValueError(f"'prompt' has {len(prompt)} characters; at most {MAX_PROMPT}")
    name = row.get("name") or f"{line:04d}-{slug(prompt)}"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", name):
        raise ValueError(f"'name' {name!r} must be 1-80 letters, digits, '.', '_' or '-'")
    rigs = {k: row.get(k) or "" for k in ("rig_a", "rig_b")}
    for k, v in rigs.items():
        if not isinstance(v, str):
            raise ValueError(f"'{k}' must be an object name")
    return Item(line, name, prompt, float(_number(row, "seconds", float, 1.0, 10.0, 5.0)),
                _number(row, "seed", int, 0, 2 ** 31 - 1, 0), _number(row, "candidates", int, 1, 8, 1), **rigs)


def _rows(path):
    """(line number, row or parse error) for every non-blank line."""
    text = Path(path).read_bytes().decode("utf-8", "replace")
    if Path(path).suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                extra = row.pop(None, None)
                yield reader.line_num, (ValueError(f"{len(extra)} more value(s) than columns") if extra else row)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                yield number, json.loads(line)
            except ValueError as e:
                yield number, ValueError(f"not valid JSON ({e})")


def read(path):
    """-> (items, errors): every valid item, and 'line N: message' for every invalid line."""
    items, errors, names = [], [], {}
    for line, row in _rows(path):
        try:
            if isinstance(row, Exception):
                raise row
            item = item_from(row, line)
            if item.name in names:
                raise ValueError(f"output name '{item.name}' is already used by line {names[item.name]}")
        except ValueError as e:
            errors.append(f"{Path(path).name} line {line}: {e}")
            continue
        names[item.name] = line
        items.append(item)
    return items, errors


def shard(items, index, count):
    """Items of shard `index` (1-based) of `count`: every count-th item of the file, so each item's shard
    and output name depend only on the file."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: the index must be 1 to {count}")
    return [item for k, item in enumerate(items) if k % count == index - 1]
