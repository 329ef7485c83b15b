"""A crash inside the app must not print the API token, even when a frame holds it."""

from __future__ import annotations

from tests.fixtures.app import make_app


class Boom(RuntimeError):
    pass


async def test_crash_report_has_no_locals(backend):
    app = make_app(backend)
    secret = "crash-token-0123456789"

    def explode() -> None:
        authorization = f"Bearer {secret}"  # noqa: F841 - the local a locals dump would show
        raise Boom("exploded")

    async with app.run_test(size=(80, 24)):
        try:
            explode()
        except Boom:
            app._fatal_error()  # what Textual runs for an unhandled exception
        rendered = "".join(seg.text for r in app._exit_renderables for seg in r.segments)
        app._exit_renderables.clear()
    assert "Boom" in rendered and "explode" in rendered
    assert secret not in rendered
