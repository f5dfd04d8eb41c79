from django.db import models


class ChannelEvent(models.Model):
    """An event published from a process without websocket consumers (the worker) to the web processes.

    The row is the durable copy: a web process whose LISTEN connection dropped catches up from here. Rows are pruned
    by a periodic task once no listener could still need them.
    """

    group_name = models.CharField(max_length=200)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.group_name} #{self.pk}"
