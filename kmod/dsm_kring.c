// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's side of one shared ring.  Barrier names (A)..(F) are those
 * of include/dsm/ring.h; dataplane/ring/ring.c is the user-space side of
 * the same pairs.
 */
#include <linux/string.h>

#include "dsm_internal.h"

void dsm_kring_init(struct dsm_kring *r, void *region,
		    const struct dsm_ring_params *p, unsigned id)
{
	const struct dsm_ring_offsets *o = &p->off[id];
	u8 *base = region;

	r->head = (u32 *)(base + o->head);
	r->tail = (u32 *)(base + o->tail);
	r->flags = (u32 *)(base + o->flags);
	r->array = base + o->array;
	r->entries = p->entries[id];
	r->mask = r->entries - 1;
	r->id = id;
	r->need_wakeup = (p->features & DSM_RING_F_NEED_WAKEUP) != 0;
	spin_lock_init(&r->lock);
	r->ptail = 0;
	r->chead = 0;
	*(u32 *)(base + o->ring_mask) = r->mask;
	*(u32 *)(base + o->ring_entries) = r->entries;
}

int dsm_kring_produce(struct dsm_kring *r, const void *entry)
{
	/* (D) pairs with the consumer's (C): its reads of the slots it
	 * released are complete before we overwrite them. */
	u32 head = smp_load_acquire(r->head);
	u32 used = r->ptail - head;

	if (used > r->entries)
		return -EPROTO;
	if (used == r->entries)
		return -ENOSPC;
	memcpy(r->array + (size_t)(r->ptail & r->mask) * DSM_RING_ENTRY_SIZE,
	       entry, DSM_RING_ENTRY_SIZE);
	r->ptail++;
	/* (A) pairs with the consumer's (B): the entry is visible to anyone
	 * who sees the new tail. */
	smp_store_release(r->tail, r->ptail);
	return 0;
}

bool dsm_kring_wants_wakeup(struct dsm_kring *r)
{
	if (!r->need_wakeup)
		return true;
	/* (F) pairs with the consumer's (E): either it sees our tail before
	 * it sleeps, or we see its NEED_WAKEUP here (store->load, so a full
	 * barrier on both sides). */
	smp_mb();
	return (READ_ONCE(*r->flags) & DSM_RING_FL_NEED_WAKEUP) != 0;
}

u32 dsm_kring_pending(struct dsm_kring *r)
{
	u32 used = READ_ONCE(r->ptail) - READ_ONCE(*r->head);

	/* A garbage head reads as "something to do": the server finds out
	 * when it looks, and the producer side reports the corruption. */
	return used > r->entries ? 1 : used;
}

int dsm_kring_avail(struct dsm_kring *r)
{
	/* (B) pairs with the producer's (A): entries published before the
	 * tail store are visible once we see it. */
	u32 tail = smp_load_acquire(r->tail);
	u32 n = tail - r->chead;

	if (n > r->entries)
		return -EPROTO;
	return n;
}

void dsm_kring_peek(struct dsm_kring *r, u32 i, void *dst)
{
	/* The one read of the shared slot: validation works on dst only. */
	memcpy(dst, r->array + (size_t)((r->chead + i) & r->mask) * DSM_RING_ENTRY_SIZE,
	       DSM_RING_ENTRY_SIZE);
}

void dsm_kring_release(struct dsm_kring *r, u32 n)
{
	r->chead += n;
	/* (C) pairs with the producer's (D): our copies of the released
	 * slots are complete before it may reuse them. */
	smp_store_release(r->head, r->chead);
}

int dsm_kring_room(struct dsm_kring *r)
{
	/* (D), as in produce. */
	u32 used = r->ptail - smp_load_acquire(r->head);

	return used > r->entries ? -EPROTO : (int)(r->entries - used);
}
