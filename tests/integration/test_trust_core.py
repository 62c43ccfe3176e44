"""Trust, core part (issue 9): hostile text in messages, removal retries and
the sweep, state writes, the agent id, refused flags, resource bounds.

Each case here failed on the code before its fix (see the commit that added
it); they stay as regression tests.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import conftest
from berthlib import (BerthClient, docker, docker_ids, launch_call, poll,
                      scalar)


def call(client, body, timeout=60):
    return client.post_call(body, timeout=timeout)


# ----------------------------------------------------------------------------
# 1. messages: cut at a character boundary, never a NULL termination


def test_long_utf8_docker_error_does_not_crash(berthd, client, new_id):
    """Docker's refusal of a user made of 700 two-byte characters is longer
    than berth's message buffer; wherever the cut falls (an 'a' in front
    shifts it by one byte), the launch fails cleanly, WAIT answers with a
    valid UTF-8 message and berthd stays up."""
    for prefix in ("", "a"):
        cid = new_id("utf8")
        body = launch_call(cid, "true")
        body["launch_container"]["command"]["user"] = prefix + "\u00e9" * 700
        r = call(client, body)
        assert r.status in (200, 500), (r.status, r.text)
        w = client.wait_ok(cid)
        assert w["state"] == "TASK_FAILED", w
        msg = w["message"]
        assert "\u00e9" in msg and "\ufffd" not in msg[:-1], msg[-40:]
        assert len(msg.encode()) < 1024
        assert client.health().status == 200
        assert client.container(cid)["termination"]["message"] == msg
        client.cleanup(cid)
    assert berthd.alive()
