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
        args    = ["--port", "${NOMAD_PORT_db}", "--bind", "${NOMAD_IP_db}", "--dir", "${NOMAD_TASK_DIR}"]
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
