"""The opt-in end-to-end tier: the examples and the printed IAM policies on a real AWS account.

Skipped unless ``RELAYSTATE_E2E_REGION`` and credentials are set (see :mod:`tests.e2e.settings`).
It makes only ``relay-e2e-*`` resources and deletes them at the end; ``python -m tests.e2e.reap``
deletes what a crashed run left.
"""
