"""Tag concurrency limits on the Prefect server: how many tasks with one tag run at once.

Prefect 3.8's task engine enforces a tag's limit through the global concurrency limit
named `tag:{tag}` (it asks for a slot on `tag:<t>` for every tag `t` of a task run, with a
lease the server takes back if the process dies). `prefect concurrency-limit create TAG N`
and `client.create_concurrency_limit` are an adapter that writes that same global limit,
but they overwrite an existing value; this module reads first and creates only what is
missing, so a limit an operator set on the server is never changed by a flow run.

fineflow's downloads do not carry the tag: each holds a slot of `tag:fineflow:download`
itself while it fetches (`StageContext.slot`), after the cache check, so a cached rerun
never asks the server for one. The limit is the same one, managed the same way.
"""

from __future__ import annotations

import logging

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound


def limit_name(tag: str) -> str:
    """The global concurrency limit that Prefect's task engine checks for `tag`."""
    return f"tag:{tag}"


def ensure_tag_limit(tag: str, limit: int, logger: logging.Logger | logging.LoggerAdapter) -> int | None:
    """Make sure tasks tagged `tag` run at most `limit` at once across everything sharing
    the Prefect server; return the limit in force (None: none, or inactive).

    A limit already on the server wins over `limit`: it is the operator's (set in the UI or
    with the CLI, perhaps lowered because the remote host asked), and runs with other
    configs must not fight over it. A differing value is logged as a warning naming both.
    `limit` 0 means: manage nothing, only report what the server has.
    """
    name = limit_name(tag)
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            if limit == 0:
                logger.info("no concurrency limit on tag %r, and none asked for: not limited", tag)
                return None
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:  # another flow run created it a moment ago: theirs stands
                existing = client.read_global_concurrency_limit_by_name(name)
            else:
                logger.info("created concurrency limit %s = %d (at most %d tasks tagged %r at once)",
                            name, limit, limit, tag)
                return limit
    if not existing.active:
        logger.warning("concurrency limit %s on the server is inactive: tasks tagged %r are not limited "
                       "(`prefect gcl enable %s` turns it back on)", name, tag, name)
        return None
    if limit and existing.limit != limit:
        logger.warning("concurrency limit %s is %d on the server and %d in the config; the server's %d stands "
                       "(change it with `prefect gcl update %s --limit N`)",
                       name, existing.limit, limit, existing.limit, name)
    else:
        logger.info("concurrency limit %s = %d", name, existing.limit)
    return existing.limit
