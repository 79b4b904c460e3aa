/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Base64 (RFC 4648, standard alphabet, padded): the gateway's encoding of
 * keys and values.  Twenty lines of our own instead of a dependency; the
 * decoder is strict (canonical input only) because everything it reads
 * comes from etcd, which never sends anything else, so any deviation means
 * a corrupted or foreign response.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "etcd/etcd.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void dsm_etcd_b64_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*out++ = alphabet[v >> 18];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = alphabet[v >> 6 & 63];
		*out++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[v >> 12 & 63];
		*out++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* Value of one character, -1 if outside the alphabet. */
static int b64_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode one quantum of 4 characters, the last one possibly padded.
 * Returns the bytes produced (1..3) or -EINVAL. */
static int b64_quantum(const char *q, bool last, uint8_t *out)
{
	int pad = (q[3] == '=') + (q[3] == '=' && q[2] == '=');
	uint32_t v = 0;

	if (pad && !last)
		return -EINVAL;
	for (int k = 0; k < 4 - pad; k++) {
		int d = b64_val(q[k]);

		if (d < 0)
			return -EINVAL;
		v |= (uint32_t)d << (18 - 6 * k);
	}
	/* Canonical: the bits the padding leaves unused must be zero. */
	if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
		return -EINVAL;
	out[0] = v >> 16;
	if (pad < 2)
		out[1] = v >> 8;
	if (pad < 1)
		out[2] = v;
	return 3 - pad;
}

long dsm_etcd_b64_decode(const char *in, size_t inlen, void *out)
{
	uint8_t *o = out;
	long n = 0;

	if (inlen % 4 != 0)
		return -EINVAL;
	for (size_t i = 0; i < inlen; i += 4) {
		int r = b64_quantum(in + i, i + 4 == inlen, o + n);

		if (r < 0)
			return r;
		n += r;
	}
	return n;
}
