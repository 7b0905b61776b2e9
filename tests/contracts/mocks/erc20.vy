# pragma version ~=0.4.3
"""
@title Test-only ERC-20
@notice A minimal ERC-20 for contract tests: anyone may mint. When
        `reenter_target` is set, every `transfer` first calls it with
        `reenter_data` (ignoring failure) and records whether that call
        reverted and with what revert data, so tests can show a `@nonreentrant` guard holding.
"""

from ethereum.ercs import IERC20

implements: IERC20

name: public(String[16])
symbol: public(String[8])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

reenter_target: public(address)
reenter_data: public(Bytes[512])
reentry_reverted: public(bool)
reentry_revert_data: public(Bytes[512])


@deploy
def __init__():
    self.name = "Test Credit"
    self.symbol = "TCR"
    self.decimals = 18


@external
def mint(owner: address, amount: uint256):
    self.balanceOf[owner] += amount
    self.totalSupply += amount
    log IERC20.Transfer(sender=empty(address), receiver=owner, value=amount)


@external
def set_reentry(target: address, data: Bytes[512]):
    self.reenter_target = target
    self.reenter_data = data


@external
def transfer(receiver: address, amount: uint256) -> bool:
    if self.reenter_target != empty(address):
        target: address = self.reenter_target
        self.reenter_target = empty(address)
        ok: bool = False
        data: Bytes[512] = b""
        ok, data = raw_call(
            target, self.reenter_data, max_outsize=256, revert_on_failure=False
        )
        self.reentry_reverted = not ok
        if not ok:
            self.reentry_revert_data = data
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(owner: address, receiver: address, amount: uint256) -> bool:
    self.allowance[owner][msg.sender] -= amount
    self._transfer(owner, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log IERC20.Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@internal
def _transfer(owner: address, receiver: address, amount: uint256):
    self.balanceOf[owner] -= amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=owner, receiver=receiver, value=amount)
