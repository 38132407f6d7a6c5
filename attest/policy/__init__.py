"""Export-control policy: documents as data, rules as small pure functions.

``load_policy("us-ear")`` (the default) or ``load_policy("my-policy.toml")``
returns a :class:`Policy` that the verifier calls through its
``PolicyEvaluator`` seam. See :mod:`attest.policy.engine`.
"""

from attest.policy.engine import BUNDLED, Facts, Policy, PolicyError, load_policy

__all__ = ["BUNDLED", "Facts", "Policy", "PolicyError", "load_policy"]
