# SPDX-License-Identifier: MIT
# What an operator's token needs for resec-switchover (and resec-status) on one
# resec cluster with the defaults (CONSUL_LOCK_KEY=resec/.lock,
# CONSUL_SERVICE_PREFIX=redis). The nodes' own policy is resec-policy.hcl.
# Create: consul acl policy create -name resec-switchover -rules @resec-switchover-policy.hcl

# The election keys (maintenance, priority overrides) and the lock.
key_prefix "resec/" {
  policy = "read"
}

# The hand-over request: a check-and-set rewrite of the lock key's value.
key "resec/.lock" {
  policy = "write"
}

# The switchover claim, held by a session of the tool's own.
key "resec/switchover" {
  policy = "write"
}
session_prefix "" {
  policy = "write"
}

# The master and replica instances and their nodes' addresses.
service_prefix "redis-" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
