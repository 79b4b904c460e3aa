/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * In-order reassembly bookkeeping for one peer.  The reliable channel
 * delivers frames in sequence order, so the fragments of a message are
 * consecutive: idx 0, 1, ..., cnt-1 with contiguous offsets and identical
 * message fields.  Only headers are tracked here; the caller appends each
 * accepted fragment's payload at h->frag_off of its message buffer.
 *
 * Headers fed here have passed dsm_hdr_decode(), so per-frame consistency
 * (idx < cnt, off + len <= msg_len, ...) already holds; this checks the
 * relation between consecutive frames.
 */
#include <string.h>

#include "wire/codec.h"

void dsm_reasm_init(struct dsm_reasm *r)
{
	memset(r, 0, sizeof(*r));
}

void dsm_reasm_reset(struct dsm_reasm *r)
{
	r->active = false;
	r->next_idx = 0;
	r->next_off = 0;
}

/* Fields that are the message's, not the frame's: they must be the same in
 * every fragment.  Channel fields (seq, ack, sack, RETX) and csum differ. */
static bool same_message(const struct dsm_hdr *a, const struct dsm_hdr *b)
{
	return a->type == b->type &&
	       (a->flags & ~DSM_F_RETX) == (b->flags & ~DSM_F_RETX) &&
	       a->src_node == b->src_node &&
	       a->dst_node == b->dst_node &&
	       a->status == b->status &&
	       a->frag_cnt == b->frag_cnt &&
	       a->epoch == b->epoch &&
	       a->token == b->token &&
	       a->seg_id == b->seg_id &&
	       a->msg_len == b->msg_len &&
	       a->pgno == b->pgno &&
	       a->page_version == b->page_version;
}

static enum dsm_reasm_res fail(struct dsm_reasm *r)
{
	dsm_reasm_reset(r);
	r->errors++;
	return DSM_REASM_ERR;
}

enum dsm_reasm_res dsm_reasm_push(struct dsm_reasm *r, const struct dsm_hdr *h)
{
	if (!r->active) {
		/* Must start a message. */
		if (h->frag_cnt == 0 || h->frag_idx != 0 || h->frag_off != 0)
			return fail(r);
		r->first = *h;
		if (h->frag_cnt == 1) {
			if (h->frag_len != h->msg_len)
				return fail(r);
			return DSM_REASM_DONE;
		}
		if (h->frag_len == 0 || h->frag_len >= h->msg_len)
			return fail(r);
		r->active = true;
		r->next_idx = 1;
		r->next_off = h->frag_len;
		return DSM_REASM_MORE;
	}

	/* Continuing a message: a new fragment 0, a skipped or repeated index,
	 * a gap/overlap in offsets or a different message all abort it. */
	if (h->frag_idx != r->next_idx || h->frag_off != r->next_off ||
	    h->frag_len == 0 || !same_message(&r->first, h))
		return fail(r);
	if ((uint64_t)h->frag_off + h->frag_len > h->msg_len)
		return fail(r);

	r->next_idx++;
	r->next_off += h->frag_len;
	if (r->next_idx == r->first.frag_cnt) {
		if (r->next_off != r->first.msg_len)
			return fail(r);
		r->active = false;
		return DSM_REASM_DONE;
	}
	if (r->next_off >= r->first.msg_len)
		return fail(r);     /* all bytes in but fragments left */
	return DSM_REASM_MORE;
}
