# SPDX-License-Identifier: MIT
# Least privilege for one resec cluster with the defaults
# (CONSUL_LOCK_KEY=resec/.lock, CONSUL_SERVICE_PREFIX=redis).
# Create: consul acl policy create -name resec -rules @resec-policy.hcl

# resec-lock: the lock key (acquire, release, read, monitor).
key "resec/.lock" {
  policy = "write"
}

# The election keys beside the lock (docs/election.md): every node reads them
# (maintenance, priority overrides, a switchover); the master publishes its
# replication offset. Without the read, a real Consul filters them out of the
# recursive read and maintenance mode would go unseen.
key_prefix "resec/" {
  policy = "read"
}
key "resec/master-offset" {
  policy = "write"
}
# Failsafe mode (RESEC_FAILSAFE): the master's keeper writes the members.
key "resec/failsafe" {
  policy = "write"
}
# Peer detection's votes (REDIS_MASTER_DOWN_AFTER, docs/resec-lock.md): each
# replica's key under resec/down/, held by a session of its own.
key_prefix "resec/down/" {
  policy = "write"
}

# resec-lock: create, renew and destroy its session on this node.
session_prefix "" {
  policy = "write"
}

# resec-health: register, pass and deregister the two role services.
service "redis-master" {
  policy = "write"
}
service "redis-slave" {
  policy = "write"
}

# resec-watch: health results list node data; without node read they come
# back silently empty under default-deny.
node_prefix "" {
  policy = "read"
}

# resec-watch: reads the agent's own node name (GET /v1/agent/self) to
# recognise its own registration when ANNOUNCE_ADDR has no host. Without it,
# only loopback announce addresses are recognised as self.
agent_prefix "" {
  policy = "read"
}
