# SPDX-License-Identifier: MIT
# Three Redis, each with resec beside it in the same group (docker driver).
job "redis" {
  datacenters = ["dc1"]
  type        = "service"

  update {
    max_parallel = 1
    stagger      = "10s"
  }

  group "cache" {
    count = 3

    network {
      port "db" {}
    }

    task "redis" {
      driver = "docker"
      config {
        image = "redis:7"
        ports = ["db"]
        # Started fenced (no config file resec-role could write the fence
        # into): see docs/resec-role.md, "The config file".
        args  = ["redis-server", "--port", "${NOMAD_PORT_db}",
                 "--min-replicas-to-write", "1000000", "--min-replicas-max-lag", "1000010"]
      }
      resources {
        cpu    = 500
        memory = 256
      }
    }

    task "resec" {
      driver = "docker"
      config {
        image        = "resec:latest"
        network_mode = "host"
      }
      kill_signal  = "SIGQUIT"
      kill_timeout = "20s"
      env {
        CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:8500"
        REDIS_ADDR       = "${NOMAD_ADDR_db}"
        ANNOUNCE_ADDR    = "${NOMAD_ADDR_db}"
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
