"""Hostile input, end to end through the CLI: configs, URLs, known_hosts files, log streams,
nginx files and servers that answer badly (tests/data/hostile/).

Every case must end in one line naming the file, field or host, with the documented exit code
(2: config or input error, 1: findings or a failed action, 0: fine), no API token anywhere in
the output, and within a bounded time (a subprocess with a timeout) and memory (a rlimit).
"""

from __future__ import annotations

import pytest

from aktui.nginx.templates import SHAPES, render_example
from aktui.nginx.values import OutpostTarget


@pytest.mark.parametrize("shape", SHAPES)
def test_a_value_holding_a_placeholder_stays_text(shape):
    target = OutpostTarget("outpost-x", "10.0.0.1", 9001)
    plain = render_example(shape, "app.example.com", target, path="/admin")
    spliced = render_example(shape, "app.example.com", target, path="/@PROXY_HEADERS@")
    # The path is the only difference: no template text was spliced in through it.
    assert spliced.count("proxy_set_header") == plain.count("proxy_set_header")
    assert spliced.replace("/@PROXY_HEADERS@", "/admin") == plain
