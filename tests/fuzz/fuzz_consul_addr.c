/* SPDX-License-Identifier: MIT */
/* fuzz_consul_addr: CONSUL_HTTP_ADDR, KV keys and service names as the client would use them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "consul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int url_unsafe(char c)
{
	return (unsigned char)c <= ' ' || (unsigned char)c >= 0x7f || c == '?' || c == '#';
}

/* An accepted address holds what config.h promises, and redaction hides its credentials. */
static void address(const char *s)
{
	struct consul_addr a, back;
	char why[160], redacted[1200], want[1200];
	config_redact_addr(s, redacted, sizeof redacted);
	if (config_parse_consul_addr(s, &a, why, sizeof why) != 0) {
		if (why[0] == '\0' || strchr(why, '\n') != NULL)
			abort();
		return;
	}
	if (a.scheme == CONSUL_SCHEME_UNIX) {
		if (a.path[0] == '\0')
			abort();
		return;
	}
	if (a.host[0] == '\0' || a.port < 0 || a.port > 65535)
		abort();
	for (const char *p = a.host; *p != '\0'; p++)
		if (url_unsafe(*p) || *p == '/' || *p == '@' || *p == '[' || *p == ']' || *p == '%')
			abort();
	for (const char *p = a.path; *p != '\0'; p++)
		if (url_unsafe(*p))
			abort();
	if (a.userinfo[0] != '\0') {
		/* Redacted: the scheme, "***", then only what follows the credentials' '@'. */
		const char *sep = strstr(s, "://");
		size_t pl = sep != NULL ? (size_t)(sep - s) + 3 : 0;
		snprintf(want, sizeof want, "%.*s***@", (int)pl, s);
		if (strncmp(redacted, want, strlen(want)) != 0 ||
		    strstr(s + pl + strlen(a.userinfo), redacted + strlen(want) - 1) == NULL)
			abort();
	}
	/* The client builds its base URL from it, without the credentials, and can read it back. */
	struct resec_config cfg;
	char err[256];
	config_defaults(&cfg);
	snprintf(cfg.consul_addr, sizeof cfg.consul_addr, "%s", s);
	if (strlen(s) >= sizeof cfg.consul_addr)
		return;
	struct consul *c = consul_new(&cfg, err, sizeof err);
	if (c == NULL)
		abort();
	const char *base = consul_base_url(c);
	if (strchr(base, '@') != NULL && strchr(a.path, '@') == NULL)
		abort();
	if (config_parse_consul_addr(base, &back, why, sizeof why) != 0 || strcmp(back.host, a.host) != 0 ||
	    back.port != a.port)
		abort();
	consul_free(c);
}

/* An accepted key cannot leave /v1/kv/: no empty, "." or ".." segment, nothing to escape a path. */
static void kv_key(const char *s)
{
	char why[160];
	if (config_check_kv_key(s, why, sizeof why) != 0)
		return;
	if (*s == '\0' || s[strlen(s) - 1] == '/' || strstr(s, "//") != NULL)
		abort();
	for (const char *p = s; *p != '\0'; p++)
		if (url_unsafe(*p) || *p == '%' || *p == '\\')
			abort();
	for (const char *seg = s; seg != NULL; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
		size_t n = strcspn(seg, "/");
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			abort();
	}
}

static void service_name(const char *s)
{
	char why[160];
	if (config_check_service_name(s, why, sizeof why) != 0)
		return;
	if (*s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strpbrk(s, "/?#% @:") != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[1100];
	if (size < 1 || size >= sizeof s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0: address(s); break;
	case 1: kv_key(s); break;
	default: service_name(s); break;
	}
	return 0;
}
