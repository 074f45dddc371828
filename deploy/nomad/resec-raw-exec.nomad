# SPDX-License-Identifier: MIT
# Three Redis, each with resec beside it (raw_exec: binaries installed on the
# clients with `make install`).
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
      driver = "raw_exec"
      config {
        command = "/usr/bin/redis-server"
        # Started fenced: no config file for resec-role to write the fence
        # into, so a restarted Redis must refuse writes until resec decides
        # its role (docs/resec-role.md, "The config file").
        args    = ["--port", "${NOMAD_PORT_db}", "--bind", "${NOMAD_IP_db}", "--dir", "${NOMAD_TASK_DIR}",
                   "--min-replicas-to-write", "1000000", "--min-replicas-max-lag", "1000010"]
      }
    }

    task "resec" {
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/resec"
      }
      kill_signal  = "SIGQUIT"
      kill_timeout = "20s"
      env {
        CONSUL_HTTP_ADDR = "http://127.0.0.1:8500"
        REDIS_ADDR       = "${NOMAD_ADDR_db}"
        ANNOUNCE_ADDR    = "${NOMAD_ADDR_db}"
      }
    }
  }
}
