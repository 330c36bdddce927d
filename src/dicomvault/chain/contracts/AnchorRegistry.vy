# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title dicomvault consortium anchor registry
@notice Each member of a permissioned consortium (an Ethereum account the owner
        admitted) anchors the roots of its ledger's signed checkpoints and the
        digests of its sharing agreements, so that a partner can check a tree head
        or an agreement without trusting the member's own server.
@dev    Checkpoints: per origin (the log's name), tree sizes only grow, and an
        origin belongs to the member that anchored it first. Agreements: keyed
        by the SHA-256 of the share id; the grantor alone may revoke.
"""

STATUS_NONE: constant(uint8) = 0
STATUS_GRANTED: constant(uint8) = 1
STATUS_REVOKED: constant(uint8) = 2


struct Anchor:
    tree_size: uint64
    root_hash: bytes32
    checkpoint_time: uint64
    anchored_at: uint64
    member: address


struct Agreement:
    agreement_sha256: bytes32
    grantor: address
    status: uint8
    granted_at: uint64
    revoked_at: uint64


event MemberAdmitted:
    member: indexed(address)
    name: String[64]


event MemberRemoved:
    member: indexed(address)


event CheckpointAnchored:
    origin_key: indexed(bytes32)
    member: indexed(address)
    origin: String[255]
    tree_size: uint64
    root_hash: bytes32
    checkpoint_time: uint64


event AgreementGranted:
    share_key: indexed(bytes32)
    grantor: indexed(address)
    agreement_sha256: bytes32


event AgreementRevoked:
    share_key: indexed(bytes32)
    grantor: indexed(address)
    agreement_sha256: bytes32


owner: public(address)
is_member: public(HashMap[address, bool])
member_name: public(HashMap[address, String[64]])
origin_member: public(HashMap[bytes32, address])
anchor_count: public(HashMap[bytes32, uint256])
anchors: HashMap[bytes32, HashMap[uint256, Anchor]]
agreements: HashMap[bytes32, Agreement]
share_of_digest: public(HashMap[bytes32, bytes32])


@deploy
def __init__():
    self.owner = msg.sender


@external
def admit_member(member: address, name: String[64]):
    assert msg.sender == self.owner, "only the owner admits members"
    assert member != empty(address), "member is the zero address"
    self.is_member[member] = True
    self.member_name[member] = name
    log MemberAdmitted(member=member, name=name)


@external
def remove_member(member: address):
    assert msg.sender == self.owner, "only the owner removes members"
    self.is_member[member] = False
    log MemberRemoved(member=member)


@external
def transfer_ownership(new_owner: address):
    assert msg.sender == self.owner, "only the owner transfers ownership"
    assert new_owner != empty(address), "owner is the zero address"
    self.owner = new_owner


@external
def anchor_checkpoint(origin: String[255], tree_size: uint64, root_hash: bytes32,
                      checkpoint_time: uint64):
    assert self.is_member[msg.sender], "not a consortium member"
    key: bytes32 = keccak256(origin)
    holder: address = self.origin_member[key]
    if holder == empty(address):
        self.origin_member[key] = msg.sender
    else:
        assert holder == msg.sender, "origin belongs to another member"
    count: uint256 = self.anchor_count[key]
    if count > 0:
        assert tree_size > self.anchors[key][count - 1].tree_size, "tree size must grow"
    self.anchors[key][count] = Anchor(
        tree_size=tree_size,
        root_hash=root_hash,
        checkpoint_time=checkpoint_time,
        anchored_at=convert(block.timestamp, uint64),
        member=msg.sender,
    )
    self.anchor_count[key] = count + 1
    log CheckpointAnchored(origin_key=key, member=msg.sender, origin=origin,
                           tree_size=tree_size, root_hash=root_hash,
                           checkpoint_time=checkpoint_time)


@view
@external
def anchor_at(origin: String[255], index: uint256) -> Anchor:
    key: bytes32 = keccak256(origin)
    assert index < self.anchor_count[key], "no such anchor"
    return self.anchors[key][index]


@view
@external
def anchors_of(origin: String[255]) -> uint256:
    return self.anchor_count[keccak256(origin)]


@external
def grant_agreement(share_key: bytes32, agreement_sha256: bytes32):
    assert self.is_member[msg.sender], "not a consortium member"
    assert self.agreements[share_key].status == STATUS_NONE, "share already anchored"
    assert self.share_of_digest[agreement_sha256] == empty(bytes32), "agreement already anchored"
    self.agreements[share_key] = Agreement(
        agreement_sha256=agreement_sha256,
        grantor=msg.sender,
        status=STATUS_GRANTED,
        granted_at=convert(block.timestamp, uint64),
        revoked_at=0,
    )
    self.share_of_digest[agreement_sha256] = share_key
    log AgreementGranted(share_key=share_key, grantor=msg.sender,
                         agreement_sha256=agreement_sha256)


@external
def revoke_agreement(share_key: bytes32, agreement_sha256: bytes32):
    """
    @notice Revoke a granted agreement (grantor only). A share granted before the
            grantor joined the chain may be revoked without a prior grant.
    """
    current: Agreement = self.agreements[share_key]
    if current.status == STATUS_NONE:
        assert self.is_member[msg.sender], "not a consortium member"
        assert self.share_of_digest[agreement_sha256] == empty(bytes32), "agreement already anchored"
        self.share_of_digest[agreement_sha256] = share_key
        current.agreement_sha256 = agreement_sha256
        current.grantor = msg.sender
    else:
        assert current.status == STATUS_GRANTED, "agreement already revoked"
        assert current.grantor == msg.sender, "only the grantor revokes"
        assert current.agreement_sha256 == agreement_sha256, "not the granted agreement"
    current.status = STATUS_REVOKED
    current.revoked_at = convert(block.timestamp, uint64)
    self.agreements[share_key] = current
    log AgreementRevoked(share_key=share_key, grantor=msg.sender,
                         agreement_sha256=agreement_sha256)


@view
@external
def agreement(share_key: bytes32) -> Agreement:
    return self.agreements[share_key]
