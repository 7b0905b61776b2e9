"""One service module per capability; pure rules live in `couponchain.domain`."""
