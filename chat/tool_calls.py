"""Tool calls in OpenAI's shape: ``tools`` / ``tool_choice`` in, ``tool_calls`` out, ``role: "tool"`` results back.

A backend that implements tools (OpenAI, vLLM, most hosted APIs) gets them as they came. A small local model whose
chat template knows no tools (SmolLM2 on the embedded server) gets them *emulated*: the tools are described in a
system message and its output is constrained, by JSON schema, to either a call of one of them (with arguments valid
for that tool's parameters) or a plain answer; we turn that into ``tool_calls`` exactly as a native backend would
return them. Earlier calls and their results in the history are written out as text for such a model.
"""

import json
import uuid
from dataclasses import dataclass

from core.errors import ServiceError
from core.structured import JSON_SCHEMA, OutputFormat, check_schema

MAX_TOOLS = 128
MAX_EMULATED_CALLS = 4  # parallel calls a small model may make in one answer
CHOICES = ("none", "auto", "required")
EMPTY_PARAMETERS = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict


@dataclass(frozen=True)
class ToolUse:
    tools: tuple[Tool, ...]
    choice: str  # "none", "auto", "required", or the one tool's name the model must call
    parallel: bool
    forwarded: dict  # the request's own tools fields, as a native backend takes them

    @property
    def may_call(self) -> bool:
        return self.choice != "none"


def _invalid(param: str, message: str) -> ServiceError:
    return ServiceError("invalid_tools", message, param=param)


def _tool(raw: object, position: int) -> Tool:
    param = f"tools[{position}]"
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "function" or not isinstance(function, dict):
        raise _invalid(param, f"'{param}' must be {{'type': 'function', 'function': {{...}}}}.")
    name = function.get("name")
    if not isinstance(name, str) or not name or len(name) > 64 or not name.replace("_", "").replace("-", "").isalnum():
        raise _invalid(f"{param}.function.name", "A tool's name must be 1-64 letters, digits, '_' or '-'.")
    description = function.get("description") or ""
    if not isinstance(description, str):
        raise _invalid(f"{param}.function.description", "A tool's description must be a string.")
    parameters = function.get("parameters")
    parameters = EMPTY_PARAMETERS if parameters is None else check_schema(parameters, f"{param}.function.parameters")
    return Tool(name, description, parameters)


def _choice(raw: object, names: set[str]) -> str:
    if raw is None:
        return "auto"
    if isinstance(raw, str):
        if raw not in CHOICES:
            raise _invalid("tool_choice", f"'tool_choice' must be one of {', '.join(CHOICES)} or a named function.")
        return raw
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "function" or not isinstance(name, str):
        raise _invalid("tool_choice", "'tool_choice' must name a function: {'type': 'function', 'function': {'name'}}.")
    if name not in names:
        raise _invalid("tool_choice.function.name", f"'tool_choice' names {name!r}, which is not in 'tools'.")
    return name


def parse_tools(body: dict) -> ToolUse | None:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` of a request; None when it brings no tools."""
    raw_tools, raw_choice, parallel = body.get("tools"), body.get("tool_choice"), body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise _invalid("parallel_tool_calls", "'parallel_tool_calls' must be true or false.")
    if raw_tools is None:
        if raw_choice not in (None, "none"):
            raise _invalid("tool_choice", "'tool_choice' needs 'tools'.")
        return None
    if not isinstance(raw_tools, list) or not 1 <= len(raw_tools) <= MAX_TOOLS:
        raise _invalid("tools", f"'tools' must be a list of 1 to {MAX_TOOLS} functions.")
    tools = tuple(_tool(raw, position) for position, raw in enumerate(raw_tools))
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise _invalid("tools", "Each tool needs its own name.")
    forwarded = {
        name: value
        for name, value in (("tools", raw_tools), ("tool_choice", raw_choice), ("parallel_tool_calls", parallel))
        if value is not None
    }
    return ToolUse(tools, _choice(raw_choice, set(names)), parallel is not False, forwarded)


def parse_calls(raw: object, param: str) -> list[dict]:
    """An assistant message's earlier ``tool_calls``, kept in OpenAI's shape."""
    if not isinstance(raw, list) or not raw:
        raise _invalid(param, f"'{param}' must be a non-empty list of calls.")
    calls = []
    for position, call in enumerate(raw):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise _invalid(
                f"{param}[{position}]", "A tool call needs an 'id' and a 'function' with 'name' and 'arguments'."
            )
        calls.append(
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": function["arguments"]},
            }
        )
    return calls


# --- emulation, for a backend whose chat template has no tools --------------------------------------------------


def _call_schema(tool: Tool) -> dict:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": tool.parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def emulated_format(use: ToolUse) -> OutputFormat:
    """The output a model must write: a call (of the named tool, when one is forced), or, with ``auto``, an answer."""
    tools = [tool for tool in use.tools if use.choice in ("auto", "required", tool.name)]
    calls = {
        "type": "object",
        "properties": {
            "tool_calls": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EMULATED_CALLS if use.parallel else 1,
                "items": _call_schema(tools[0]) if len(tools) == 1 else {"anyOf": [_call_schema(t) for t in tools]},
            }
        },
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    answer = {
        "type": "object",
        "properties": {"content": {"type": "string"}},
        "required": ["content"],
        "additionalProperties": False,
    }
    schema = {"anyOf": [calls, answer]} if use.choice == "auto" else calls
    return OutputFormat(JSON_SCHEMA, schema=schema, name="tool_calls", strict=True)


def _described(use: ToolUse) -> str:
    lines = ["You can call these functions:"]
    for tool in use.tools:
        lines.append(f"- {tool.name}: {tool.description or '(no description)'}")
        lines.append(f"  arguments (JSON Schema): {json.dumps(tool.parameters, separators=(',', ':'))}")
    lines.append('To call a function, reply with JSON: {"tool_calls": [{"name": "<function>", "arguments": {...}}]}.')
    if use.choice == "auto":
        lines.append('To answer without calling a function, reply with JSON: {"content": "<your answer>"}.')
    return "\n".join(lines)


def emulated_prompt(messages: list[dict], use: ToolUse | None) -> list[dict]:
    """The conversation as a model without tools can read it: calls and results as text, the tools described."""
    names = {}
    converted = []
    for message in messages:
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                names[call["id"]] = call["function"]["name"]
                calls.append({"name": call["function"]["name"], "arguments": _arguments(call["function"]["arguments"])})
            converted.append({"role": "assistant", "content": json.dumps({"tool_calls": calls})})
        elif message["role"] == "tool":
            name = names.get(message.get("tool_call_id"), "a function")
            converted.append({"role": "user", "content": f"Result of {name}: {message['content']}"})
        else:
            converted.append({"role": message["role"], "content": message["content"]})
    if use is None or not use.may_call:
        return converted
    system = [m for m in converted if m["role"] == "system"]
    rest = [m for m in converted if m["role"] != "system"]
    return [*system, {"role": "system", "content": _described(use)}, *rest]


def _arguments(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_emulated(value: dict) -> tuple[str, list[dict]]:
    """(content, tool_calls) from output that passed ``emulated_format``: calls get ids, arguments as JSON text."""
    if "tool_calls" not in value:
        return value["content"], []
    calls = []
    for call in value["tool_calls"]:
        function = {"name": call["name"], "arguments": json.dumps(call["arguments"])}
        if all(earlier["function"] != function for earlier in calls):  # a small model repeats itself
            calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": function})
    return "", calls
