"""The generator's JSON-lines protocol, version 1: one JSON object per line each way.

Requests (client -> server) carry an "op" and an "id" (a string the replies repeat):
  hello                              -> hello event (protocol, model id, device, capabilities, limits,
                                        and once the model is loaded its recommended sampling settings
                                        and its prompt reader: reader, a name or null, and reader_note,
                                        why there is none where the model's bank asks for one)
  generate  prompt, seconds, seed, candidates, steps, guidance, topk_ratio, temperature, caption_neighbours
            (sampling fields a request leaves out take the model's recommended value, else the protocol's
            default) -> result (candidates; understood_as: with caption_neighbours, the training caption
            the prompt was answered as, else null; reader_note: why it was read without the model's prompt
            reader, else null)
  react     the same plus given (one person's joint positions), given_person
  inpaint   the same plus motion (both persons' positions), start_frame, end_frame, persons
  cancel    target (the id of a queued or running request) -> ack; the target ends with error "cancelled"
  release   unload the model and free device memory        -> ack
  shutdown                                                  -> ack, then the process exits
Events (server -> client): progress (step, steps), result, ack, error (code, message, and for
out-of-range values the field and the allowed [min, max]).

Arrays travel as {"dtype": "float32", "shape": [...], "data": base64 of little-endian bytes}.
Positions are in model space: metres, Y up, 30 fps, SMPL-22 joints."""

import base64
import json
import math

import numpy as np

VERSION = 1
MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_PROMPT_CHARS = 1000
MAX_DEPTH = 8
MAX_ID_CHARS = 128
OPS = ("hello", "generate", "react", "inpaint", "cancel", "release", "shutdown")
ERROR_CODES = ("bad_request", "out_of_range", "cancelled", "model_unavailable", "internal")


class ProtocolError(ValueError):
    """A request that cannot be served; becomes an `error` event and the process carries on."""

    def __init__(self, code, message, request_id=None, field=None, allowed=None):
        super().__init__(message)
        self.code, self.request_id, self.field, self.allowed = code, request_id, field, allowed

    def event(self):
        return error_event(self.request_id, self.code, str(self), self.field, self.allowed)


def error_event(request_id, code, message, field=None, allowed=None):
    event = {"event": "error", "id": request_id, "code": code, "message": message}
    if field is not None:
        event["field"] = field
    if allowed is not None:
        event["allowed"] = allowed
    return event


# -------------------------------------------------------------------------------------------- arrays

def encode_array(array, dtype="float32"):
    a = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(obj, field, shape, max_elements, request_id=None):
    """A transported array, checked against `shape` (None = any length on that axis) and finite."""
    def bad(message):
        return ProtocolError("bad_request", f"{field}: {message}", request_id, field)
    if not isinstance(obj, dict) or set(obj) != {"dtype", "shape", "data"}:
        raise bad("expected an object with dtype, shape and data")
    if obj["dtype"] != "float32":
        raise bad(f"dtype must be float32, got {obj['dtype']!r}")
    dims = obj["shape"]
    if not isinstance(dims, list) or len(dims) != len(shape) or \
            not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise bad(f"shape must be {len(shape)} non-negative integers")
    for d, want in zip(dims, shape):
        if want is not None and d != want:
            raise bad(f"shape {dims} does not match {['*' if w is None else w for w in shape]}")
    count = math.prod(dims)
    if count > max_elements:
        raise bad(f"{count} elements is more than the {max_elements} allowed")
    if not isinstance(obj["data"], str):
        raise bad("data must be a base64 string")
    try:
        raw = base64.b64decode(obj["data"], validate=True)
    except (ValueError, TypeError):
        raise bad("data is not valid base64") from None
    if len(raw) != 4 * count:
        raise bad(f"data holds {len(raw)} bytes, shape needs {4 * count}")
    array = np.frombuffer(raw, dtype="<f4").reshape(dims).astype(np.float32)
    if not np.isfinite(array).all():
        raise bad("contains NaN or infinity")
    return array


# ------------------------------------------------------------------------------------------- parsing

def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _depth(obj, limit):
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def parse_line(raw):
    """Bytes of one line -> a request dict with at least a valid 'op' and 'id'. Raises ProtocolError."""
    if len(raw) > MAX_LINE_BYTES:
        raise ProtocolError("bad_request", f"line of {len(raw)} bytes exceeds {MAX_LINE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad_request", "line is not valid UTF-8") from None
    # Cheap pre-check so hostile nesting never reaches the recursive JSON parser.
    if text.count("[") + text.count("{") > 10000 or _nesting(text) > MAX_DEPTH + 2:
        raise ProtocolError("bad_request", f"JSON nested deeper than {MAX_DEPTH} levels or too many containers")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ProtocolError("bad_request", f"not valid JSON: {error}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_request", "a request must be a JSON object")
    if not _depth(obj, MAX_DEPTH):
        raise ProtocolError("bad_request", f"JSON nested deeper than {MAX_DEPTH} levels")
    request_id = obj.get("id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_ID_CHARS:
        raise ProtocolError("bad_request", f"'id' must be a string of 1 to {MAX_ID_CHARS} characters")
    op = obj.get("op")
    if op not in OPS:
        raise ProtocolError("bad_request", f"unknown op {op!r}; expected one of {', '.join(OPS)}", request_id,
                            "op")
    return obj


def _nesting(text):
    """Maximum bracket nesting outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


# ------------------------------------------------------------------------------------ field checking

# name: (type, default, (min, max)); ranges are inclusive.
SAMPLING_FIELDS = {
    "seconds": (float, 4.0, (1.0, 10.0)),
    "seed": (int, 0, (0, 2 ** 31 - 1)),
    "candidates": (int, 1, (1, 8)),
    "steps": (int, 20, (1, 100)),
    "guidance": (float, 2.0, (0.0, 20.0)),
    "topk_ratio": (float, 0.9, (0.0, 0.99)),
    "temperature": (float, 1.0, (0.01, 10.0)),
    "caption_neighbours": (int, 0, (0, 64)),
}


def _number(request, name, kind, default, bounds):
    value = request.get(name, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value):
        raise ProtocolError("bad_request", f"{name} must be {'an integer' if kind is int else 'a number'}",
                            request.get("id"), name, list(bounds))
    value = kind(value)
    if not bounds[0] <= value <= bounds[1]:
        raise ProtocolError("out_of_range", f"{name} {value} is outside {bounds[0]}..{bounds[1]}",
                            request.get("id"), name, list(bounds))
    return value


def sampling_fields(request):
    """Prompt and numeric sampling fields, checked and with defaults filled in."""
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ProtocolError("bad_request", "prompt must be a non-empty text describing the interaction",
                            request.get("id"), "prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ProtocolError("out_of_range", f"prompt of {len(prompt)} characters is longer than "
                            f"{MAX_PROMPT_CHARS}", request.get("id"), "prompt", [1, MAX_PROMPT_CHARS])
    fields = {"prompt": prompt.strip()}
    for name, (kind, default, bounds) in SAMPLING_FIELDS.items():
        fields[name] = _number(request, name, kind, default, bounds)
    # the model's recommended settings (config.json "sampling") replace defaults, never values asked for
    fields["explicit"] = frozenset(name for name in SAMPLING_FIELDS if name in request)
    return fields


def _int_in(request, name, bounds, default=None):
    if name not in request:
        if default is not None:
            return default
        raise ProtocolError("bad_request", f"{name} is required", request.get("id"), name, list(bounds))
    return _number(request, name, int, 0, bounds)


MAX_FRAMES = 300


def react_fields(request):
    fields = sampling_fields(request)
    fields["given"] = decode_array(request.get("given"), "given", (None, 22, 3), MAX_FRAMES * 66, request["id"])
    frames = fields["given"].shape[0]
    if not 30 <= frames <= MAX_FRAMES:
        raise ProtocolError("out_of_range", f"given motion has {frames} frames; 30..{MAX_FRAMES} (1-10 s) allowed",
                            request["id"], "given", [30, MAX_FRAMES])
    fields["given_person"] = _int_in(request, "given_person", (0, 1), default=0)
    return fields


def inpaint_fields(request):
    fields = sampling_fields(request)
    motion = decode_array(request.get("motion"), "motion", (2, None, 22, 3), 2 * MAX_FRAMES * 66, request["id"])
    frames = motion.shape[1]
    if not 30 <= frames <= MAX_FRAMES:
        raise ProtocolError("out_of_range", f"motion has {frames} frames; 30..{MAX_FRAMES} allowed",
                            request["id"], "motion", [30, MAX_FRAMES])
    fields["motion"] = motion
    fields["start_frame"] = _int_in(request, "start_frame", (0, frames - 1))
    fields["end_frame"] = _int_in(request, "end_frame", (fields["start_frame"] + 1, frames))
    persons = request.get("persons", [0, 1])
    if not isinstance(persons, list) or not persons or len(persons) > 2 or \
            any(p not in (0, 1) or isinstance(p, bool) for p in persons) or len(set(persons)) != len(persons):
        raise ProtocolError("bad_request", "persons must be [0], [1] or [0, 1]", request["id"], "persons")
    fields["persons"] = tuple(persons)
    return fields


def cancel_target(request):
    target = request.get("target")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_ID_CHARS:
        raise ProtocolError("bad_request", "cancel needs 'target', the id of the request to stop",
                            request["id"], "target")
    return target


def dumps(event):
    """One event as one line (no NaN: every float the server sends is finite)."""
    return json.dumps(event, allow_nan=False, separators=(",", ":")) + "\n"
