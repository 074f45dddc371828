/* SPDX-License-Identifier: MIT */
/* consul: the Consul client's handle: its transport (common/http.c) and its settings. */
#include "consul_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct consul *consul_new(const struct resec_config *cfg, char *err, size_t errlen)
{
	struct consul *c;
	struct consul_priv *p;

	c = calloc(1, sizeof *c);
	p = calloc(1, sizeof *p);
	if (c == NULL || p == NULL) {
		free(c);
		free(p);
		snprintf(err, errlen, "consul: out of memory");
		return NULL;
	}
	c->priv_ = p;
	c->known_leader = -1;
	p->connect_ms = DEFAULT_CONNECT_MS;
	p->request_ms = DEFAULT_REQUEST_MS;
	p->cancel_fd = -1;
	p->http = http_new(cfg, err, errlen);
	if (p->http == NULL) {
		consul_free(c);
		return NULL;
	}
	if (cfg->consul_namespace[0] != '\0') {
		char *ns = consul_escape(cfg->consul_namespace);
		if (ns == NULL) {
			snprintf(err, errlen, "consul: out of memory");
			consul_free(c);
			return NULL;
		}
		snprintf(p->ns_param, sizeof p->ns_param, "ns=%s", ns);
		free(ns);
	}
	return c;
}

void consul_free(struct consul *c)
{
	struct consul_priv *p;

	if (c == NULL)
		return;
	p = P(c);
	if (p != NULL) {
		http_free(p->http);
		free(p);
	}
	free(c->body);
	free(c);
}

void consul_set_timeouts(struct consul *c, int64_t connect_ms, int64_t request_ms)
{
	if (connect_ms > 0)
		P(c)->connect_ms = connect_ms;
	if (request_ms > 0)
		P(c)->request_ms = request_ms;
}

void consul_set_cancel_fd(struct consul *c, int fd)
{
	P(c)->cancel_fd = fd;
}

void consul_set_deadline(struct consul *c, int64_t deadline_ms)
{
	P(c)->deadline_ms = deadline_ms;
}

const char *consul_base_url(const struct consul *c)
{
	return http_base(P(c)->http);
}

char *consul_escape(const char *s)
{
	return http_escape(s);
}
