/* SPDX-License-Identifier: MIT */
/* json: strict JSON reading on jsmn, base64, building and escaping; knows nothing of Consul. */
#include "json.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one place jsmn's implementation is compiled; every other file uses json.h. */
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#define TOK(d) ((jsmntok_t *)(d)->tok_)

/* ---- validation: jsmn tokenises; we check the grammar it leaves loose ---- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* [from, to) holds only whitespace around at most one separator sep (0: none). */
static int gap_ok(const char *s, long from, long to, char sep)
{
	int seen = 0;

	if (from > to)
		return 0;
	for (long i = from; i < to; i++) {
		if (is_ws(s[i]))
			continue;
		if (sep != 0 && s[i] == sep && !seen) {
			seen = 1;
			continue;
		}
		return 0;
	}
	return sep == 0 || seen;
}

static int raw_start(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int raw_end(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 number, or true/false/null, exactly filling [s, s+n). */
static int primitive_ok(const char *s, size_t n)
{
	size_t i = 0;

	if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
	    (n == 4 && memcmp(s, "null", 4) == 0))
		return 1;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n || !is_digit(s[i]))
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (i < n && is_digit(s[i]))
			i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i == n;
}

/*
 * The one UTF-8 check of the project (log.c uses it too): Unicode's table of
 * well-formed byte sequences, so overlong forms, surrogates and code points
 * past U+10FFFF are refused without decoding. Bytes are read in order and the
 * first bad one ends the check, so a NUL-terminated string needs no n beyond
 * its end.
 */
size_t json_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;     /* no UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;     /* nothing above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

static int hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

static size_t put_utf8(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Unescape the raw string body s[0..n) into out (when not NULL; it needs n
 * bytes, the result is never longer). Rejects bad escapes, lone surrogates,
 * \u0000, raw control characters and invalid UTF-8. Returns the length or -1.
 */
static long unescape(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;
	char tmp[4];

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k;

		if (c < 0x20)
			return -1;
		if (c != '\\') {
			k = json_utf8_len((const unsigned char *)s + i, n - i);
			if (k == 0)
				return -1;
			if (out != NULL)
				memcpy(out + o, s + i, k);
			i += k;
			o += k;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		char e = s[i + 1];
		char r = 0;
		switch (e) {
		case '"': r = '"'; break;
		case '\\': r = '\\'; break;
		case '/': r = '/'; break;
		case 'b': r = '\b'; break;
		case 'f': r = '\f'; break;
		case 'n': r = '\n'; break;
		case 'r': r = '\r'; break;
		case 't': r = '\t'; break;
		case 'u': break;
		default: return -1;
		}
		if (e != 'u') {
			if (out != NULL)
				out[o] = r;
			o++;
			i += 2;
			continue;
		}
		unsigned cp, lo;
		if (i + 6 > n || hex4(s + i + 2, &cp) != 0)
			return -1;
		i += 6;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return -1;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &lo) != 0 ||
			    lo < 0xDC00 || lo > 0xDFFF)
				return -1;
			i += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		}
		if (cp == 0)
			return -1;
		k = put_utf8(cp, tmp);
		if (out != NULL)
			memcpy(out + o, tmp, k);
		o += k;
	}
	return (long)o;
}

/* Check token i's subtree; returns the index after it, or -1. */
static int validate(struct json_doc *d, int i, int depth)
{
	jsmntok_t *T = TOK(d);
	const jsmntok_t *t;
	int j, n;
	long pos;

	if (i < 0 || i >= d->ntok || depth > JSON_MAX_DEPTH)
		return -1;
	t = &T[i];
	if (t->start < 0 || t->end < t->start || (size_t)t->end > d->len || t->size < 0)
		return -1;
	switch (t->type) {
	case JSMN_PRIMITIVE:
		if (t->size != 0 || !primitive_ok(d->text + t->start, (size_t)(t->end - t->start)))
			return -1;
		j = i + 1;
		break;
	case JSMN_STRING:
		if (t->size != 0 || t->start < 1 || unescape(d->text + t->start,
		                                             (size_t)(t->end - t->start), NULL) < 0)
			return -1;
		j = i + 1;
		break;
	case JSMN_ARRAY:
	case JSMN_OBJECT:
		if (t->end - t->start < 2)
			return -1;
		pos = t->start + 1;
		j = i + 1;
		n = t->size;
		for (int k = 0; k < n; k++) {
			char sep = k == 0 ? 0 : ',';
			if (j >= d->ntok)
				return -1;
			if (t->type == JSMN_OBJECT) {
				const jsmntok_t *key = &T[j];
				if (key->type != JSMN_STRING || key->size != 1 || key->start < 1 ||
				    (size_t)key->end > d->len || key->end < key->start ||
				    !gap_ok(d->text, pos, raw_start(key), sep) ||
				    unescape(d->text + key->start, (size_t)(key->end - key->start), NULL) < 0)
					return -1;
				d->next_[j] = -1;  /* set below, once the value is known */
				pos = raw_end(key);
				sep = ':';
				j++;
				if (j >= d->ntok)
					return -1;
			}
			if (!gap_ok(d->text, pos, raw_start(&T[j]), sep))
				return -1;
			int after = validate(d, j, depth + 1);
			if (after < 0)
				return -1;
			if (t->type == JSMN_OBJECT)
				d->next_[j - 1] = after;
			pos = raw_end(&T[j]);
			j = after;
		}
		if (!gap_ok(d->text, pos, t->end - 1, 0) ||
		    d->text[t->end - 1] != (t->type == JSMN_OBJECT ? '}' : ']') ||
		    d->text[t->start] != (t->type == JSMN_OBJECT ? '{' : '['))
			return -1;
		break;
	default:
		return -1;
	}
	d->next_[i] = j;
	return j;
}

void json_free(struct json_doc *d)
{
	free(d->tok_);
	free(d->next_);
	free((char *)d->text);
	d->tok_ = NULL;
	d->next_ = NULL;
	d->text = NULL;
	d->len = 0;
	d->ntok = 0;
	d->cap_ = 0;
}

static int parse_fail(struct json_doc *d, const char *why)
{
	snprintf(d->err, sizeof d->err, "invalid JSON: %s", why);
	json_free(d);
	return -1;
}

/*
 * One linear pass before jsmn: count the tokens jsmn will make and the nesting
 * depth, rejecting too deep or too many at once. jsmn finds the container a
 * closing bracket ends by walking up from the last token, which costs the depth
 * on every close: a document nested n deep took time in n^2 (a 200 KB
 * "[[[[...]]]]" from a hostile server took 13 s). With the depth capped here
 * that walk is short, and with the count known jsmn runs once, on an array of
 * the right size. Returns the token count, or -1 with why set.
 */
static long prescan(const char *s, size_t len, const char **why)
{
	long ntok = 0;
	int depth = 0;
	size_t i = 0;

	while (i < len) {
		char c = s[i];
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			if (i >= len)
				return *why = "truncated", -1;
			i++;
			ntok++;
		} else if (c == '{' || c == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return *why = "nested too deep", -1;
			ntok++;
			i++;
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
			i++;
		} else if (c == '-' || is_digit(c) || c == 't' || c == 'f' || c == 'n') {
			/* A primitive runs to a delimiter, as jsmn reads it. */
			while (i < len && strchr(" \t\r\n,]}", s[i]) == NULL)
				i++;
			ntok++;
		} else {
			i++;
		}
		if (ntok > JSON_MAX_TOKENS)
			return *why = "too many values", -1;
	}
	return ntok;
}

int json_parse(struct json_doc *d, const char *text, size_t len)
{
	jsmn_parser p;
	char *copy;
	const char *why = "";
	long ntok;
	int r;

	memset(d, 0, sizeof *d);
	if (text == NULL || len > JSON_MAX_TEXT)
		return parse_fail(d, "too long");
	ntok = prescan(text, len, &why);
	if (ntok < 0)
		return parse_fail(d, why);
	/* A trailing space ends a top-level number, which strict jsmn needs. */
	copy = malloc(len + 2);
	if (copy == NULL)
		return parse_fail(d, "out of memory");
	memcpy(copy, text, len);
	copy[len] = ' ';
	copy[len + 1] = '\0';
	d->text = copy;
	d->len = len;
	d->cap_ = (int)ntok + 1;
	d->tok_ = malloc((size_t)d->cap_ * sizeof(jsmntok_t));
	if (d->tok_ == NULL)
		return parse_fail(d, "out of memory");
	jsmn_init(&p);
	r = jsmn_parse(&p, copy, len + 1, d->tok_, (unsigned)d->cap_);
	if (r == JSMN_ERROR_INVAL || r == JSMN_ERROR_NOMEM)
		return parse_fail(d, "unexpected character");
	if (r == JSMN_ERROR_PART)
		return parse_fail(d, "truncated");
	if (r <= 0)
		return parse_fail(d, "empty");
	d->ntok = r;
	d->next_ = malloc((size_t)r * sizeof(int));
	if (d->next_ == NULL)
		return parse_fail(d, "out of memory");
	if (!gap_ok(copy, 0, raw_start(&TOK(d)[0]), 0) || validate(d, 0, 1) != r ||
	    !gap_ok(copy, raw_end(&TOK(d)[0]), (long)len, 0))
		return parse_fail(d, "bad syntax");
	return 0;
}

/* ---- access ---- */

static const jsmntok_t *tok_at(const struct json_doc *d, int t)
{
	if (d == NULL || d->tok_ == NULL || t < 0 || t >= d->ntok)
		return NULL;
	return &TOK(d)[t];
}

enum json_type json_type(const struct json_doc *d, int t)
{
	const jsmntok_t *k = tok_at(d, t);

	if (k == NULL)
		return JSON_NONE;
	switch (k->type) {
	case JSMN_OBJECT: return JSON_OBJECT;
	case JSMN_ARRAY: return JSON_ARRAY;
	case JSMN_STRING: return JSON_STRING;
	case JSMN_PRIMITIVE:
		switch (d->text[k->start]) {
		case 't': return JSON_TRUE;
		case 'f': return JSON_FALSE;
		case 'n': return JSON_NULL;
		default: return JSON_NUMBER;
		}
	default:
		return JSON_NONE;
	}
}

int json_count(const struct json_doc *d, int t)
{
	const jsmntok_t *k = tok_at(d, t);

	if (k == NULL || (k->type != JSMN_OBJECT && k->type != JSMN_ARRAY))
		return -1;
	return k->size;
}

int json_first(const struct json_doc *d, int t)
{
	const jsmntok_t *k = tok_at(d, t);

	if (k == NULL || (k->type != JSMN_OBJECT && k->type != JSMN_ARRAY) || k->size == 0)
		return -1;
	return t + 1;
}

int json_next(const struct json_doc *d, int t)
{
	const jsmntok_t *k = tok_at(d, t);
	const jsmntok_t *parent;
	int n;

	if (k == NULL || k->parent < 0)
		return -1;
	parent = tok_at(d, k->parent);
	/* A value in an object has its key as parent: it is no element. */
	if (parent == NULL || (parent->type != JSMN_OBJECT && parent->type != JSMN_ARRAY))
		return -1;
	n = d->next_[t];
	if (n < 0 || n >= d->ntok || TOK(d)[n].parent != k->parent)
		return -1;
	return n;
}

int json_member_value(const struct json_doc *d, int key)
{
	const jsmntok_t *k = tok_at(d, key);
	const jsmntok_t *parent;

	if (k == NULL || k->type != JSMN_STRING || k->size != 1 || key + 1 >= d->ntok)
		return -1;
	parent = tok_at(d, k->parent);
	if (parent == NULL || parent->type != JSMN_OBJECT)
		return -1;
	return key + 1;
}

int json_string_eq(const struct json_doc *d, int t, const char *s)
{
	const jsmntok_t *k = tok_at(d, t);
	size_t n, slen;
	const char *raw;

	if (k == NULL || k->type != JSMN_STRING || s == NULL)
		return 0;
	raw = d->text + k->start;
	n = (size_t)(k->end - k->start);
	slen = strlen(s);
	/* Fast path: no escapes. */
	if (memchr(raw, '\\', n) == NULL)
		return n == slen && memcmp(raw, s, n) == 0;
	char *u = json_string_dup(d, t);
	int eq = u != NULL && strcmp(u, s) == 0;
	free(u);
	return eq;
}

int json_get(const struct json_doc *d, int obj, const char *key)
{
	int found = -1;

	if (json_type(d, obj) != JSON_OBJECT)
		return -1;
	for (int k = json_first(d, obj); k >= 0; k = json_next(d, k))
		if (json_string_eq(d, k, key))
			found = json_member_value(d, k);
	return found;
}

int json_string(const struct json_doc *d, int t, char *buf, size_t size)
{
	const jsmntok_t *k = tok_at(d, t);
	size_t n;
	char *tmp;

	if (k == NULL || k->type != JSMN_STRING || buf == NULL || size == 0)
		return -1;
	n = (size_t)(k->end - k->start);
	if (n < size) {
		long r = unescape(d->text + k->start, n, buf);
		if (r < 0)
			return -1;
		buf[r] = '\0';
		return 0;
	}
	tmp = json_string_dup(d, t);
	if (tmp == NULL || strlen(tmp) >= size) {
		free(tmp);
		return -1;
	}
	memcpy(buf, tmp, strlen(tmp) + 1);
	free(tmp);
	return 0;
}

char *json_string_dup(const struct json_doc *d, int t)
{
	const jsmntok_t *k = tok_at(d, t);
	size_t n;
	char *out;
	long r;

	if (k == NULL || k->type != JSMN_STRING)
		return NULL;
	n = (size_t)(k->end - k->start);
	out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	r = unescape(d->text + k->start, n, out);
	if (r < 0) {
		free(out);
		return NULL;
	}
	out[r] = '\0';
	return out;
}

/* The decimal digits text[from..to) as a number no larger than limit; -1 on anything else. */
static int read_digits(const char *text, int from, int to, uint64_t limit, uint64_t *out)
{
	uint64_t x = 0;

	if (from >= to)
		return -1;
	for (int i = from; i < to; i++) {
		char c = text[i];
		if (!is_digit(c))
			return -1;
		if (x > (limit - (uint64_t)(c - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*out = x;
	return 0;
}

int json_uint64(const struct json_doc *d, int t, uint64_t *v)
{
	const jsmntok_t *k = tok_at(d, t);
	uint64_t x;

	if (k == NULL || json_type(d, t) != JSON_NUMBER || read_digits(d->text, k->start, k->end, UINT64_MAX, &x) != 0)
		return -1;
	*v = x;
	return 0;
}

int json_int64(const struct json_doc *d, int t, int64_t *v)
{
	const jsmntok_t *k = tok_at(d, t);
	uint64_t x, limit = (uint64_t)INT64_MAX;
	int neg;

	if (k == NULL || json_type(d, t) != JSON_NUMBER)
		return -1;
	neg = d->text[k->start] == '-';
	if (read_digits(d->text, k->start + neg, k->end, limit + (uint64_t)neg, &x) != 0)
		return -1;
	if (neg)
		*v = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
	else
		*v = (int64_t)x;
	return 0;
}

int json_bool(const struct json_doc *d, int t, int *v)
{
	switch (json_type(d, t)) {
	case JSON_TRUE: *v = 1; return 0;
	case JSON_FALSE: *v = 0; return 0;
	default: return -1;
	}
}

int json_is_null(const struct json_doc *d, int t)
{
	return json_type(d, t) == JSON_NULL;
}

/* ---- base64 ---- */

static const char b64[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t json_base64_encoded_size(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

void json_base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *s = in;
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
		if (i + 1 < n)
			out[o - 2] = b64[v >> 6 & 63];
		if (i + 2 < n)
			out[o - 1] = b64[v & 63];
	}
	out[o] = '\0';
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int json_base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		int last = i + 4 == len;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -1;     /* data after padding */
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
		             (unsigned)v[3];
		out[o++] = (unsigned char)(x >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(x >> 8 & 0xFF);
		if (pad < 1)
			out[o++] = (unsigned char)(x & 0xFF);
	}
	*outlen = o;
	return 0;
}

/* ---- building ---- */

static void buf_add(struct json_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1) {
			if (cap > SIZE_MAX / 2) {
				b->failed = 1;
				return;
			}
			cap *= 2;
		}
		char *nd = realloc(b->data, cap);
		if (nd == NULL) {
			b->failed = 1;
			return;
		}
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void json_buf_raw(struct json_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

size_t json_escape_char(const unsigned char *s, size_t n, char out[8])
{
	size_t k;

	switch (*s) {
	case '"': strcpy(out, "\\\""); return 1;
	case '\\': strcpy(out, "\\\\"); return 1;
	case '\n': strcpy(out, "\\n"); return 1;
	case '\r': strcpy(out, "\\r"); return 1;
	case '\t': strcpy(out, "\\t"); return 1;
	default:
		break;
	}
	/* DEL too: a value shown on a terminal must not carry it raw. */
	if (*s < 0x20 || *s == 0x7f) {
		snprintf(out, 8, "\\u%04x", *s);
		return 1;
	}
	k = json_utf8_len(s, n);
	if (k == 0) {
		/* Invalid UTF-8 would make the JSON unreadable: U+FFFD instead, one byte at a time. */
		strcpy(out, "\\ufffd");
		return 1;
	}
	memcpy(out, s, k);
	out[k] = '\0';
	return k;
}

void json_buf_string(struct json_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	char esc[8];

	buf_add(b, "\"", 1);
	while (i < n) {
		size_t used = json_escape_char(p + i, n - i, esc);

		buf_add(b, esc, strlen(esc));
		i += used;
	}
	buf_add(b, "\"", 1);
}

void json_buf_uint(struct json_buf *b, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	json_buf_raw(b, tmp);
}

void json_buf_int(struct json_buf *b, int64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%lld", (long long)v);
	json_buf_raw(b, tmp);
}

void json_buf_free(struct json_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

int json_escape(const char *s, char *out, size_t size)
{
	struct json_buf b = {0};
	int rc = -1;

	json_buf_string(&b, s);
	if (!b.failed && b.len < size) {
		memcpy(out, b.data, b.len + 1);
		rc = 0;
	}
	json_buf_free(&b);
	return rc;
}
