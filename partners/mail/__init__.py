"""Email: messages rendered from templates (plain text and HTML), the outbox they are queued in
within the transaction that causes them, the sender that delivers them with retries, and the
backends it delivers through (SMTP, GOV.UK Notify, and two for development).

Everything that emails goes through `outbox.queue`; people are usually told through
`partners.notifications.notify`, which queues their email for them.
"""
