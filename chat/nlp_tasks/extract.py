"""Extraction into a caller's JSON Schema: constrained by the schema's grammar, validated with jsonschema, retried
once with the reason (chat.generation.constrained), else 422 ``schema_validation_failed``. A source longer than one
window is read from its start, as much as fits, and the answer says so (``truncated``)."""

import json

from chat.nlp_tasks import calls, prompts
from chat.nlp_tasks.sources import Source, joined, origin, room, windows
from core import structured


def output_format(schema: object) -> structured.OutputFormat:
    checked = structured.check_schema(schema, "schema")  # bounded: size, depth, local references only
    return structured.OutputFormat(structured.JSON_SCHEMA, schema=checked, name="extraction", strict=True)


async def extract(asker: calls.Asker, source: Source, output: structured.OutputFormat) -> dict:
    schema_text = json.dumps(output.schema)
    config = asker.config
    # The schema is in the prompt too, so it takes its share of the window.
    window = windows(source.pieces, room(config, config.max_output_tokens, len(schema_text) // 3))
    read = window[0]
    tally = calls.Tally()
    outcome = await calls.run(
        asker,
        tally,
        system=prompts.EXTRACT_SYSTEM,
        user=prompts.extract_user(joined(read), schema_text),
        data_is_users=source.from_user,
        output=output,
    )
    return {
        "data": json.loads(outcome.content),  # valid against the schema: checked before the outcome was complete
        "truncated": len(window) > 1,
        "read": origin(read),
        "usage": tally.as_dict(),
    }
