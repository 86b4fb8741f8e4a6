"""A real SMTP server (aiosmtpd, in-process) for the family email tests."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from tests.test_outbox import Collect, _free_port


@pytest.fixture
def mailbox(app):
    """(deliver, messages): deliver() sends the outbox to the server; messages it got."""
    from consent.services import notifications

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, MAIL_TRANSPORT="smtp")

    def deliver() -> int:
        with app.app_context():
            return notifications.deliver_outbox()

    yield deliver, handler.messages
    controller.stop()
