from couponchain.domain.roles import Role


def test_fixture_registers_participants(registry, merchant, terminal):
    assert registry.role_of(merchant) == Role.MERCHANT
    assert registry.role_of(terminal) == Role.TERMINAL
    assert registry.merchant_of(terminal) == merchant
