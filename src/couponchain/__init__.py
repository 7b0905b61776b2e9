"""CouponChain: verifiable coupons and promotions on an EVM ledger."""

__version__ = "0.1.0"
