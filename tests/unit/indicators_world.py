"""Access-log records as Hypothesis draws them, the times they fall at, and a plain-Python
reference count of the indicators: what the indicator tests share."""

from hypothesis import strategies as st

from couponchain.domain.access_logs import AccessMethod, AccessRecord, Operation
from couponchain.domain.indicators import Rate

DAY = 86_400
BASE = 1_700_006_400  # 2023-11-15 00:00:00 UTC
OFFSETS = [-720, -300, 0, 60, 330, 345, 480, 840]

records_strategy = st.builds(
    AccessRecord,
    visitor=st.sampled_from([bytes([i]) * 32 for i in range(1, 7)]),
    account=st.sampled_from(["", "", "", "alice", "bob", "carol"]),
    time=st.integers(BASE - DAY, BASE + 2 * DAY),
    merchant=st.sampled_from([1, 2]),
    method=st.sampled_from(AccessMethod),
    operation=st.sampled_from(Operation),
)


logs_strategy = st.lists(records_strategy, max_size=60)


times = st.integers(BASE - DAY, BASE + 2 * DAY)


def reference(records, start, end, merchant=None):
    """The catalogue computed the slow, obvious way, one definition at a time."""
    mine = [r for r in records if merchant is None or r.merchant == merchant]
    window = [r for r in mine if start <= r.time < end]

    def who(r):
        return ("account", r.account) if r.account else ("ip", r.visitor)

    visitors = {who(r) for r in window}
    before = {who(r) for r in mine if r.time < start}
    count = {op: sum(1 for r in window if r.operation == op) for op in Operation}
    ranked = sorted(
        ((op.name.lower(), n) for op, n in count.items() if n > 0), key=lambda x: (-x[1], x[0])
    )
    return {
        "page_views": count[Operation.VIEW],
        "unique_visitors": len(visitors),
        "visits_by_method": {
            m.name.lower(): sum(1 for r in window if r.method == m) for m in AccessMethod
        },
        "new_visitors": len(visitors - before),
        "returning_visitors": len(visitors & before),
        "coupon_claims": count[Operation.CLAIM],
        "redemptions": count[Operation.REDEEM],
        "purchases": count[Operation.PURCHASE],
        "conversion_rate": Rate(count[Operation.PURCHASE], len(visitors)),
        "redemption_rate": Rate(count[Operation.REDEEM], count[Operation.CLAIM]),
        "top_operations": ranked[:5],
    }
