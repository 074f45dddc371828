/* SPDX-License-Identifier: MIT */
/* json: strict JSON reading on jsmn, base64, building and escaping (UTF-8 checked); knows nothing of Consul. */
#ifndef RESEC_JSON_H
#define RESEC_JSON_H

#include <stddef.h>
#include <stdint.h>

/*
 * A parsed document. Values are referred to by token index: 0 is the root,
 * -1 means "none" and is accepted (and rejected cleanly) by every accessor.
 * json_parse keeps its own copy of the text (freed by json_free). Only
 * json.c sees jsmn; the token array is private.
 */
struct json_doc {
	const char *text;
	size_t len;
	int ntok;          /* number of tokens */
	void *tok_;        /* jsmntok_t[cap_] */
	int *next_;        /* index of the token after each token's subtree */
	int cap_;
	char err[128];     /* why json_parse failed */
};

enum json_type {
	JSON_NONE = 0, JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_NUMBER,
	JSON_TRUE, JSON_FALSE, JSON_NULL
};

/*
 * Bounds on what a server can make json_parse hold: every document is first
 * scanned once in linear time and refused (one clear error) past these.
 * The answers read (Consul's) nest at most about ten deep; a health entry is
 * about 150 values, so the token cap leaves room for well over a thousand
 * instances.
 */
#define JSON_MAX_DEPTH 32                  /* open arrays and objects at once */
#define JSON_MAX_TOKENS (1L << 18)         /* values, keys included (about 6 MB of tokens) */
#define JSON_MAX_TEXT ((size_t)16 << 20)   /* bytes (the Consul client caps bodies lower) */

/* Parse exactly one strict JSON value (RFC 8259; surrounding whitespace allowed); 0 or -1 with d->err. */
int json_parse(struct json_doc *d, const char *text, size_t len);

/* Release the token arrays (the doc may be parsed into again). */
void json_free(struct json_doc *d);

/* The type of token t (JSON_NONE when t is out of range). */
enum json_type json_type(const struct json_doc *d, int t);

/* Value of the member named key of object obj (last one wins on duplicates, as in Go), or -1. */
int json_get(const struct json_doc *d, int obj, const char *key);

/* Number of elements of an array or members of an object; -1 for other types. */
int json_count(const struct json_doc *d, int t);

/* First element of an array, or first member key of an object; -1 when empty or not a container. */
int json_first(const struct json_doc *d, int t);

/* Next sibling of an element (or of a member key) t, or -1 after the last. */
int json_next(const struct json_doc *d, int t);

/* Value of the object member whose key token is key (key + its subtree), or -1. */
int json_member_value(const struct json_doc *d, int key);

/* Unescape string t into buf (NUL-terminated); -1 when not a string, bad escape, \u0000 or too long. */
int json_string(const struct json_doc *d, int t, char *buf, size_t size);

/* Unescape string t into a malloc'd buffer (free it); NULL on the same errors or no memory. */
char *json_string_dup(const struct json_doc *d, int t);

/* 1 when t is a string equal (after unescaping) to s, else 0. */
int json_string_eq(const struct json_doc *d, int t, const char *s);

/* Integer number t as uint64 (no sign, fraction or exponent; overflow rejected); 0 or -1. */
int json_uint64(const struct json_doc *d, int t, uint64_t *v);

/* Integer number t as int64 (no fraction or exponent; overflow rejected); 0 or -1. */
int json_int64(const struct json_doc *d, int t, int64_t *v);

/* true/false t as 1/0 in *v; 0 or -1 when not a boolean. */
int json_bool(const struct json_doc *d, int t, int *v);

/* 1 when t is null, else 0. */
int json_is_null(const struct json_doc *d, int t);

/* Bytes json_base64_encode writes for n input bytes, including the NUL. */
size_t json_base64_encoded_size(size_t n);

/* Standard padded base64 of in[0..n) into out (json_base64_encoded_size(n) bytes). */
void json_base64_encode(const void *in, size_t n, char *out);

/* Decode standard padded base64 (no whitespace); out needs len/4*3 bytes; 0 or -1. */
int json_base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes; a NUL-terminated
 * string may pass n up to 4 whatever its end), 0 when the bytes are not one:
 * overlong forms, UTF-16 surrogates and code points past U+10FFFF included.
 */
size_t json_utf8_len(const unsigned char *s, size_t n);

/*
 * The JSON escape of the character at s (n bytes left, n >= 1) into out,
 * NUL-terminated: \" \\ \n \r \t named, other C0 controls and DEL as \u00XX,
 * a byte that does not start valid UTF-8 as \ufffd, else the character as is.
 * Returns the bytes of s consumed. json_buf_string and the log module use it.
 */
size_t json_escape_char(const unsigned char *s, size_t n, char out[8]);

/* A growable byte buffer for building request bodies; zero-initialise it. */
struct json_buf {
	char *data;        /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	int failed;        /* an allocation failed: the content is incomplete */
};

/* Append s as is. */
void json_buf_raw(struct json_buf *b, const char *s);

/* Append s as a quoted JSON string, each character as json_escape_char writes it. */
void json_buf_string(struct json_buf *b, const char *s);

/* Append an unsigned decimal number. */
void json_buf_uint(struct json_buf *b, uint64_t v);

/* Append a signed decimal number. */
void json_buf_int(struct json_buf *b, int64_t v);

/* Release the buffer and zero it. */
void json_buf_free(struct json_buf *b);

/* Write s as a quoted JSON string into out (NUL-terminated); -1 when it does not fit. */
int json_escape(const char *s, char *out, size_t size);

#endif
