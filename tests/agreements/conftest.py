"""Agreement factories live in tests/agreement_factories.py (a plugin of the root conftest)."""

from tests.agreement_factories import BASIS, agreement_data, rule

__all__ = ["BASIS", "agreement_data", "rule"]
