"""OpenFeature's Python SDK with its OFREP provider (from PyPI) against a running Rollgate.

Run by end2end/tests/openfeature-python.spec.ts with BASE_URL and ROLLGATE_TEST_TOKEN; prints one JSON
object per evaluation (flag, value, variant, reason, error code) for the test to check.
"""

import json
import os
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

token = os.environ["ROLLGATE_TEST_TOKEN"]
api.set_provider(OFREPProvider(os.environ["BASE_URL"], headers_factory=lambda: {"Authorization": f"Bearer {token}"}))
client = api.get_client()


def report(kind, flag, default, targeting_key, **attributes):
    context = EvaluationContext(targeting_key=targeting_key, attributes=attributes)
    resolve = getattr(client, f"get_{kind}_details")
    details = resolve(flag, default, context)
    print(json.dumps({
        "flag": flag,
        "value": details.value,
        "variant": details.variant,
        "reason": details.reason,
        "error_code": details.error_code.value if details.error_code else None,
    }))


report("boolean", "autoRestore", False, "cust-0001")
report("boolean", "ENABLE_PART_CATEGORIES", True, "cust-0001")
report("boolean", "priority_urls_enabled", False, "cust-0006", organizationId="seo-insights")
report("boolean", "no_such_flag", True, "cust-0001")
sys.stdout.flush()
