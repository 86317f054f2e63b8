"""Two fixes to moto's S3 bucket rules, applied when the local emulator starts.

1. Conditional policy statements. moto evaluates a bucket policy's statements but ignores their
   conditions, so the archive's TLS-only statement (deny unless aws:SecureTransport) would deny
   every request. moto cannot evaluate conditions, so here a conditional statement neither allows
   nor denies; the condition itself is AWS's to evaluate (Flyt's clients always use TLS there).
   Tests check such statements as configuration.
2. Public access. moto stores a bucket's public access block and object ownership but does not
   act on them: a public ACL or a public bucket policy is accepted. AWS refuses both, and the
   archive's tests must prove the bucket the template creates refuses them.

   This applies AWS's rules, nothing more:

   - ObjectOwnership BucketOwnerEnforced: an ACL that grants anything to anyone but the owner is
     refused with AccessControlListNotSupported (AWS disables ACLs altogether).
   - BlockPublicAcls: an ACL granting to AllUsers or AuthenticatedUsers is refused (AccessDenied).
   - BlockPublicPolicy: a bucket policy that allows a wildcard principal is refused (AccessDenied).
"""

import json

from moto.s3 import models as s3_models
from moto.s3.exceptions import S3ClientError

_PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _bucket(account_id, partition, bucket_name):
    return s3_models.s3_backends[account_id][partition].get_bucket(bucket_name)


def _grants_to_others(acl):
    return any(grantee.uri for grant in acl.grants for grantee in grant.grantees)


def _is_public(acl):
    return any(grantee.uri in _PUBLIC_GROUPS for grant in acl.grants for grantee in grant.grantees)


def _check_acl(bucket, acl):
    if acl is None:
        return
    if bucket.ownership_rule and "BucketOwnerEnforced" in str(bucket.ownership_rule) and _grants_to_others(acl):
        raise S3ClientError("AccessControlListNotSupported", "The bucket does not allow ACLs")
    block = bucket.public_access_block
    if block is not None and block.block_public_acls and _is_public(acl):
        raise S3ClientError("AccessDenied", "Access Denied: the bucket blocks public ACLs")


def _policy_is_public(policy):
    try:
        document = json.loads(policy)
    except (TypeError, ValueError):
        return False
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if principal == "*" or (isinstance(principal, dict) and "*" in json.dumps(principal)):
            return True
    return False


def _without_conditional_statements(policy):
    document = json.loads(policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [s for s in statements if "Condition" not in s]
    return json.dumps(document)


def apply():
    from moto.iam.access_control import IAMPolicy, PermissionResult

    def get_permission(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        return IAMPolicy(_without_conditional_statements(policy)).is_action_permitted(action, resource)

    s3_models.FakeBucket.get_permission = get_permission
    backend_class = s3_models.S3Backend
    put_bucket_acl = backend_class.put_bucket_acl
    put_bucket_policy = backend_class.put_bucket_policy
    key_set_acl = s3_models.FakeKey.set_acl

    def checked_put_bucket_acl(self, bucket_name, acl):
        _check_acl(self.get_bucket(bucket_name), acl)
        return put_bucket_acl(self, bucket_name, acl)

    def checked_put_bucket_policy(self, bucket_name, policy):
        bucket = self.get_bucket(bucket_name)
        block = bucket.public_access_block
        if block is not None and block.block_public_policy and _policy_is_public(policy):
            raise S3ClientError("AccessDenied", "Access Denied: the bucket blocks public policies")
        return put_bucket_policy(self, bucket_name, policy)

    def checked_key_set_acl(self, acl):
        _check_acl(_bucket(self.account_id, self.partition, self.bucket_name), acl)
        return key_set_acl(self, acl)

    backend_class.put_bucket_acl = checked_put_bucket_acl
    backend_class.put_bucket_policy = checked_put_bucket_policy
    s3_models.FakeKey.set_acl = checked_key_set_acl
