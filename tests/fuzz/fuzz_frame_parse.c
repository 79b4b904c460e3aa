/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for dsm_frame_parse().  Not part of the meson build.
 *
 * Build and run (from the repository root):
 *
 *   clang-14 -g -O1 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra \
 *       -fsanitize=fuzzer,address,undefined -fno-sanitize=alignment \
 *       -fno-sanitize-recover=all -Iinclude -Idataplane \
 *       dataplane/wire/codec.c dataplane/wire/reasm.c tests/fuzz/fuzz_frame_parse.c \
 *       `pkg-config --cflags --libs libdpdk` -o /tmp/fuzz_frame_parse
 *   mkdir -p /tmp/fuzz-corpus && /tmp/fuzz_frame_parse -max_total_time=60 \
 *       -max_len=9100 /tmp/fuzz-corpus
 *
 * -fno-sanitize=alignment: DPDK's rte_hash_crc() does unaligned 8-byte loads
 * by design (fine on x86).  Needs clang-14 and libclang-rt-14-dev.  Seeding
 * the corpus with a few valid frames (dsm_frame_build output: a 1514-byte
 * fragment, a PAGE_REQ, a CHAN_ACK, a 4 KiB jumbo GRANT) gets to the deep
 * paths at once; the input is also read as "2 bytes + dsm header + payload"
 * and built into a frame, so valid frames are reached even without seeds.
 *
 * Properties checked:
 *  - parse never reads outside [data, data + size) (ASan);
 *  - a frame that parses re-encodes (dsm_frame_build with the parsed
 *    addressing, header and payload) to exactly the same bytes as the input's
 *    frame, except TOS, IP id/flags, TTL, IP checksum and UDP checksum,
 *    which the receiver accepts with any (valid) value, and any padding;
 *  - the re-built frame parses to the same header;
 *  - reassembly bookkeeping never crashes on any header sequence.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/codec.h"

static uint8_t rebuilt[DSM_FRAME_OVERHEAD + 65536];
static struct dsm_reasm reasm;

static void check_roundtrip(const uint8_t *data, size_t size, const struct dsm_frame *f)
{
	struct dsm_frame g;
	size_t total = DSM_FRAME_OVERHEAD + f->hdr.frag_len;
	int n = dsm_frame_build(rebuilt, sizeof(rebuilt), &f->addr, &f->hdr, f->payload);

	if (n < 0 || (size_t)n != total || total > size)
		abort();
	/* Fields parse checks or returns must match; TOS, IP id, DF, TTL and
	 * the UDP checksum are accepted with any value, so they may differ. */
	if (memcmp(rebuilt, data, 15) != 0 ||               /* eth, ver/IHL */
	    memcmp(rebuilt + 16, data + 16, 2) != 0 ||      /* total length */
	    rebuilt[23] != data[23] ||                      /* protocol */
	    memcmp(rebuilt + 26, data + 26, 14) != 0)       /* addrs, ports, UDP len */
		abort();
	/* dsm header and payload: byte-exact (csum re-computed identically). */
	if (memcmp(rebuilt + 42, data + 42, total - 42) != 0)
		abort();
	if (dsm_frame_parse(rebuilt, (size_t)n, f->addr.dst_port, &g) != DSM_DROP_NONE)
		abort();
	if (g.hdr.csum != f->hdr.csum || g.hdr.token != f->hdr.token ||
	    g.hdr.frag_len != f->hdr.frag_len || g.hdr.flags != f->hdr.flags)
		abort();
}

static void try_parse(const uint8_t *data, size_t size)
{
	struct dsm_frame f;
	/* Exact-size heap copy so ASan sees reads past the end. */
	uint8_t *p = malloc(size ? size : 1);

	if (p == NULL)
		return;
	memcpy(p, data, size);
	if (dsm_frame_parse(p, size, DSM_WIRE_UDP_PORT, &f) == DSM_DROP_NONE) {
		check_roundtrip(p, size, &f);
		(void)dsm_reasm_push(&reasm, &f.hdr);
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	try_parse(data, size);

	/* Also interpret the input as header fields + payload and build a
	 * frame from it: if the codec accepts the header, the frame must
	 * parse, and mutating one byte of it (chosen by the input) must
	 * either be rejected or still round-trip. */
	if (size >= 2 + DSM_WIRE_HDR_LEN) {
		struct dsm_hdr h;
		struct dsm_addr a = { .src_ip = 0x0a000001, .dst_ip = 0x0a000002,
				      .src_port = 1234, .dst_port = DSM_WIRE_UDP_PORT };
		static uint8_t frame[DSM_FRAME_OVERHEAD + 65536];
		const uint8_t *payload = data + 2 + DSM_WIRE_HDR_LEN;
		size_t plen = size - 2 - DSM_WIRE_HDR_LEN;

		if (dsm_hdr_decode(data + 2, DSM_WIRE_HDR_LEN, &h) == DSM_DROP_NONE &&
		    h.frag_len <= plen) {
			int n = dsm_frame_build(frame, sizeof(frame), &a, &h, payload);
			if (n < 0)
				abort();
			/* Encoding is canonical: same bytes except csum. */
			if (memcmp(frame + 42, data + 2, 72) != 0 ||
			    memcmp(frame + 42 + 76, data + 2 + 76, 12) != 0)
				abort();
			try_parse(frame, (size_t)n);
			size_t pos = ((size_t)data[0] << 8 | data[1]) % (size_t)n;
			frame[pos] ^= (uint8_t)(1u << (data[1] & 7));
			try_parse(frame, (size_t)n);
		}
	}
	return 0;
}
