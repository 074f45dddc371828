/* SPDX-License-Identifier: MIT */
/* consul_health: /v1/health/service: the instances of a service with their checks. */
#include "consul_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int consul_health_service(struct consul *c, const char *service, const char *tag, int passing,
                          const struct consul_query *qo, struct json_health_entry **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];
	int64_t wait;
	int rc;

	*out = NULL;
	*n = 0;
	if (consul_name_path(c, &path, "GET", "/v1/health/service/", service, "service name") != 0)
		return CONSUL_ERR;
	if (passing)
		consul_add_param(&q, "passing", NULL);
	if (tag != NULL && tag[0] != '\0')
		consul_add_param(&q, "tag", tag);
	wait = consul_add_query(&q, qo);
	rc = consul_get(c, &path, &q, wait);
	if (rc != CONSUL_OK)
		return rc;
	return consul_decoded(c, json_decode_health(c->body, c->body_len, out, n, e, sizeof e),
	                      "GET /v1/health/service", e);
}

