"""The conversation tree, in plain SQL: the path from the root to a message, the versions of a message, and the
newest leaf under one.

A conversation's messages form a tree through ``Message.parent``: regenerating an answer adds a sibling to it,
editing a question adds a sibling to the question. ``Conversation.current_leaf`` names the branch being shown and
continued. Walking the tree is one recursive query (up by primary key, down by the parent index) instead of a query
per message. Runs on worker threads, like chat.message_rows.
"""

import uuid

from django.db import connection

# From a message up to the root: (depth, id, role, content, status, hidden) with depth 0 at the start message.
_PATH_UP = (
    "WITH RECURSIVE path AS ("
    " SELECT 0 AS depth, id, parent_id, role, content, status, hidden_at FROM chat_message"
    "  WHERE id = %s AND conversation_id = %s"
    " UNION ALL"
    " SELECT path.depth + 1, m.id, m.parent_id, m.role, m.content, m.status, m.hidden_at"
    "  FROM chat_message m JOIN path ON m.id = path.parent_id)"
)


def path_ids(cursor, *, conversation_id: uuid.UUID, message_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids from the root down to ``message_id`` (empty if it is not in the conversation)."""
    cursor.execute(f"{_PATH_UP} SELECT id FROM path ORDER BY depth DESC", [message_id, conversation_id])  # noqa: S608
    return [row[0] for row in cursor.fetchall()]


def path_turns(cursor, *, conversation_id: uuid.UUID, message_id: uuid.UUID) -> list[dict]:
    """What the model is told of the branch ending at ``message_id``: questions, and answers that were kept whole or
    stopped (a failed answer's text is not part of the conversation). Hidden messages are left out."""
    cursor.execute(
        f"{_PATH_UP} SELECT role, content FROM path WHERE content <> '' AND hidden_at IS NULL"  # noqa: S608
        " AND (role = 'user' OR (role = 'assistant' AND status IN ('complete', 'stopped'))) ORDER BY depth DESC",
        [message_id, conversation_id],
    )
    return [{"role": role, "content": content} for role, content in cursor.fetchall()]


def versions(cursor, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each message's versions: the messages of its role sharing its parent, itself included, oldest first."""
    cursor.execute(
        "SELECT m.id, ARRAY(SELECT s.id FROM chat_message s WHERE s.conversation_id = m.conversation_id"
        " AND s.role = m.role AND s.parent_id IS NOT DISTINCT FROM m.parent_id ORDER BY s.created_at, s.id)"
        " FROM chat_message m WHERE m.id = ANY(%s)",
        [list(message_ids)],
    )
    return dict(cursor.fetchall())


def newest_leaf(cursor, *, conversation_id: uuid.UUID, message_id: uuid.UUID) -> uuid.UUID | None:
    """The leaf reached from ``message_id`` by always following the newest child: the branch a reader switching to
    this version most likely means (the latest thing said after it)."""
    cursor.execute(
        "WITH RECURSIVE down AS ("
        " SELECT 0 AS depth, id FROM chat_message WHERE id = %s AND conversation_id = %s"
        " UNION ALL"
        " SELECT down.depth + 1, child.id FROM down CROSS JOIN LATERAL ("
        "  SELECT c.id FROM chat_message c WHERE c.parent_id = down.id ORDER BY c.created_at DESC, c.id DESC LIMIT 1"
        " ) child)"
        " SELECT id FROM down ORDER BY depth DESC LIMIT 1",
        [message_id, conversation_id],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def branch_versions(*, conversation_id: uuid.UUID, leaf_id: uuid.UUID) -> tuple[list[uuid.UUID], dict]:
    """The ids on the branch ending at ``leaf_id``, root first, and the versions of each."""
    with connection.cursor() as cursor:
        ids = path_ids(cursor, conversation_id=conversation_id, message_id=leaf_id)
        return ids, versions(cursor, ids) if ids else {}


def leaf_under(*, conversation_id: uuid.UUID, message_id: uuid.UUID) -> uuid.UUID | None:
    with connection.cursor() as cursor:
        return newest_leaf(cursor, conversation_id=conversation_id, message_id=message_id)
