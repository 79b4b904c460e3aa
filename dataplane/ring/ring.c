/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-space side of the kernel <-> dataplane rings.  The ordering rules and
 * the barrier names (A)..(F) are those of include/dsm/ring.h.
 */
#include <errno.h>
#include <string.h>

#include "ring/ring.h"

/* A function, not a macro: arguments with side effects (prod_space reads
 * the shared head) must be evaluated once. */
static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* -------------------------------------------------------------- errors */

static const int err_errno[DSM_RING_ERR_MAX] = {
	[DSM_RING_ERR_NONE]       = 0,
	[DSM_RING_ERR_VERSION]    = -EPROTO,
	[DSM_RING_ERR_FEATURES]   = -EOPNOTSUPP,
	[DSM_RING_ERR_FLAGS]      = -EINVAL,
	[DSM_RING_ERR_RESERVED]   = -EINVAL,
	[DSM_RING_ERR_ENTRIES]    = -EINVAL,
	[DSM_RING_ERR_ENTRY_SIZE] = -EINVAL,
	[DSM_RING_ERR_ALIGN]      = -EINVAL,
	[DSM_RING_ERR_BOUNDS]     = -ERANGE,
	[DSM_RING_ERR_OVERLAP]    = -EINVAL,
	[DSM_RING_ERR_SHARED]     = -EPROTO,
};

static const char *const err_names[DSM_RING_ERR_MAX] = {
	[DSM_RING_ERR_NONE]       = "none",
	[DSM_RING_ERR_VERSION]    = "version",
	[DSM_RING_ERR_FEATURES]   = "features",
	[DSM_RING_ERR_FLAGS]      = "flags",
	[DSM_RING_ERR_RESERVED]   = "reserved",
	[DSM_RING_ERR_ENTRIES]    = "entries",
	[DSM_RING_ERR_ENTRY_SIZE] = "entry_size",
	[DSM_RING_ERR_ALIGN]      = "align",
	[DSM_RING_ERR_BOUNDS]     = "bounds",
	[DSM_RING_ERR_OVERLAP]    = "overlap",
	[DSM_RING_ERR_SHARED]     = "shared",
};

static const char *const bad_names[DSM_RING_BAD_MAX] = {
	[DSM_RING_OK]           = "ok",
	[DSM_RING_BAD_OPCODE]   = "opcode",
	[DSM_RING_BAD_FLAGS]    = "flags",
	[DSM_RING_BAD_RESERVED] = "reserved",
	[DSM_RING_BAD_SEG]      = "seg",
	[DSM_RING_BAD_RANGE]    = "range",
	[DSM_RING_BAD_PID]      = "pid",
	[DSM_RING_BAD_STATUS]   = "status",
};

const char *dsm_ring_err_name(enum dsm_ring_err e)
{
	return (unsigned)e < DSM_RING_ERR_MAX ? err_names[e] : "?";
}

const char *dsm_ring_bad_name(enum dsm_ring_bad b)
{
	return (unsigned)b < DSM_RING_BAD_MAX ? bad_names[b] : "?";
}

static int fail(enum dsm_ring_err *why, enum dsm_ring_err e)
{
	if (why != NULL)
		*why = e;
	return err_errno[e];
}

/* ---------------------------------------------------------- handshake */

void dsm_ring_params_init(struct dsm_ring_params *p, uint32_t features_wanted)
{
	memset(p, 0, sizeof(*p));
	p->api_version = DSM_RING_API_VERSION;
	p->features_wanted = features_wanted;
}

int dsm_ring_layout(struct dsm_ring_params *p, enum dsm_ring_err *why)
{
	/* Every feature this version knows is supported. */
	return fail(why, dsm_ring_layout_rules(p, DSM_RING_F_ALL));
}

/* ------------------------------------------------- validating a layout */

struct span {
	uint64_t lo, hi; /* [lo, hi) */
};

static bool spans_overlap(const struct span *a, const struct span *b)
{
	return a->lo < b->hi && b->lo < a->hi;
}

#define WORDS_PER_RING 5 /* head, tail, ring_mask, ring_entries, flags */
#define SPANS_PER_RING (WORDS_PER_RING + 1)

/* Check one ring's offsets: entries, size, alignment, bounds.  Fills its
 * spans for the overlap check. */
static enum dsm_ring_err check_ring(const struct dsm_ring_params *p, unsigned i,
				    struct span *sp)
{
	const struct dsm_ring_offsets *o = &p->off[i];
	const uint32_t words[WORDS_PER_RING] = {
		o->head, o->tail, o->ring_mask, o->ring_entries, o->flags,
	};

	if (o->resv != 0)
		return DSM_RING_ERR_RESERVED;
	if (!dsm_ring_is_pow2(p->entries[i]) || p->entries[i] > DSM_RING_MAX_ENTRIES)
		return DSM_RING_ERR_ENTRIES;
	if (o->entry_size != DSM_RING_ENTRY_SIZE)
		return DSM_RING_ERR_ENTRY_SIZE;
	/* head and tail start cache lines of their own (no false sharing
	 * between producer and consumer); the other words need natural
	 * alignment for atomic access, the array 8 bytes for its u64s. */
	if (o->head % DSM_RING_ALIGN || o->tail % DSM_RING_ALIGN ||
	    o->ring_mask % 4 || o->ring_entries % 4 || o->flags % 4 ||
	    o->array % 8)
		return DSM_RING_ERR_ALIGN;
	for (unsigned w = 0; w < WORDS_PER_RING; w++)
		sp[w] = (struct span){ words[w], (uint64_t)words[w] + 4 };
	sp[WORDS_PER_RING] = (struct span){
		o->array, o->array + (uint64_t)p->entries[i] * o->entry_size };
	for (unsigned s = 0; s < SPANS_PER_RING; s++)
		if (sp[s].hi > p->region_size)
			return DSM_RING_ERR_BOUNDS;
	return DSM_RING_ERR_NONE;
}

static bool any_overlap(const struct span *sp, unsigned n)
{
	for (unsigned a = 0; a < n; a++)
		for (unsigned b = a + 1; b < n; b++)
			if (spans_overlap(&sp[a], &sp[b]))
				return true;
	return false;
}

/* Everything in p that can be checked without reading the region. */
static enum dsm_ring_err check_params(const void *mem, size_t len,
				      const struct dsm_ring_params *p)
{
	struct span sp[DSM_RING_NR * SPANS_PER_RING];
	enum dsm_ring_err e = dsm_ring_params_check_in(p);

	if (e != DSM_RING_ERR_NONE)
		return e;
	if ((p->features & ~DSM_RING_F_ALL) ||
	    (p->features & ~p->features_wanted))
		return DSM_RING_ERR_FEATURES;
	if ((uintptr_t)mem % DSM_RING_ALIGN)
		return DSM_RING_ERR_ALIGN;
	if (p->region_size > len)
		return DSM_RING_ERR_BOUNDS;
	for (unsigned i = 0; i < DSM_RING_NR; i++) {
		e = check_ring(p, i, &sp[i * SPANS_PER_RING]);
		if (e != DSM_RING_ERR_NONE)
			return e;
	}
	if (any_overlap(sp, DSM_RING_NR * SPANS_PER_RING))
		return DSM_RING_ERR_OVERLAP;
	return DSM_RING_ERR_NONE;
}

static uint32_t *word(void *mem, uint32_t off)
{
	return (uint32_t *)((uint8_t *)mem + off);
}

int dsm_ring_region_init(void *mem, size_t len, const struct dsm_ring_params *p)
{
	enum dsm_ring_err e = check_params(mem, len, p);

	if (e != DSM_RING_ERR_NONE)
		return err_errno[e];
	memset(mem, 0, p->region_size);
	for (unsigned i = 0; i < DSM_RING_NR; i++) {
		*word(mem, p->off[i].ring_mask) = p->entries[i] - 1;
		*word(mem, p->off[i].ring_entries) = p->entries[i];
	}
	return 0;
}

/* Bind one ring, checking what the other side wrote into the region: the
 * constants must agree with the params, and the indices must describe at
 * most a full ring. */
static enum dsm_ring_err bind_ring(struct dsm_ring *r, unsigned id, void *mem,
				   const struct dsm_ring_params *p)
{
	const struct dsm_ring_offsets *o = &p->off[id];
	uint32_t head, tail;

	memset(r, 0, sizeof(*r));
	r->head = word(mem, o->head);
	r->tail = word(mem, o->tail);
	r->flags = word(mem, o->flags);
	r->array = (uint8_t *)mem + o->array;
	r->entries = p->entries[id];
	r->mask = r->entries - 1;
	r->entry_size = o->entry_size;
	r->id = id;
	r->need_wakeup = (p->features & DSM_RING_F_NEED_WAKEUP) != 0;
	if (__atomic_load_n(word(mem, o->ring_mask), __ATOMIC_RELAXED) != r->mask ||
	    __atomic_load_n(word(mem, o->ring_entries), __ATOMIC_RELAXED) != r->entries)
		return DSM_RING_ERR_SHARED;
	/* Acquire: pairs with (A)/(C) of a side that already ran. */
	head = __atomic_load_n(r->head, __ATOMIC_ACQUIRE);
	tail = __atomic_load_n(r->tail, __ATOMIC_ACQUIRE);
	if (tail - head > r->entries)
		return DSM_RING_ERR_SHARED;
	r->prod.tail = tail;
	r->prod.head = head;
	r->cons.head = head;
	r->cons.tail = tail;
	r->cons.flags = __atomic_load_n(r->flags, __ATOMIC_RELAXED) & DSM_RING_FL_ALL;
	return DSM_RING_ERR_NONE;
}

int dsm_ring_attach(struct dsm_ring_set *set, void *mem, size_t len,
		    const struct dsm_ring_params *p, enum dsm_ring_err *why)
{
	enum dsm_ring_err e = check_params(mem, len, p);

	if (e != DSM_RING_ERR_NONE)
		return fail(why, e);
	memset(set, 0, sizeof(*set));
	for (unsigned i = 0; i < DSM_RING_NR; i++) {
		e = bind_ring(&set->ring[i], i, mem, p);
		if (e != DSM_RING_ERR_NONE)
			return fail(why, e);
	}
	set->features = p->features;
	return fail(why, DSM_RING_ERR_NONE);
}

/* ------------------------------------------------------------- copying */

/* Slots [idx, idx + n) <-> a private array; the range may wrap. */
static void copy_in(struct dsm_ring *r, uint32_t idx, const void *src, uint32_t n)
{
	uint32_t slot = idx & r->mask;
	uint32_t first = min_u32(n, r->entries - slot);
	size_t sz = r->entry_size;

	memcpy(r->array + slot * sz, src, first * sz);
	memcpy(r->array, (const uint8_t *)src + first * sz, (n - first) * sz);
}

static void copy_out(const struct dsm_ring *r, uint32_t idx, void *dst, uint32_t n)
{
	uint32_t slot = idx & r->mask;
	uint32_t first = min_u32(n, r->entries - slot);
	size_t sz = r->entry_size;

	memcpy(dst, r->array + slot * sz, first * sz);
	memcpy((uint8_t *)dst + first * sz, r->array, (n - first) * sz);
}

/* ------------------------------------------------------------ producer */

static uint32_t prod_reload(struct dsm_ring *r)
{
	/* (D) pairs with the consumer's (C): once we see its head, its
	 * reads of the slots before head are done and we may overwrite. */
	uint32_t head = __atomic_load_n(r->head, __ATOMIC_ACQUIRE);
	uint32_t used = r->prod.tail - head;

	if (used > r->entries) {
		/* The consumer moved head past our tail: nothing it says
		 * about free space can be trusted. */
		r->prod.corrupt++;
		return 0;
	}
	r->prod.head = head;
	return r->entries - used;
}

/* Free slots, from the cached head when that already shows enough: head
 * only grows, so the cached view is a safe lower bound. */
static uint32_t prod_space(struct dsm_ring *r, uint32_t want)
{
	uint32_t space = r->entries - (r->prod.tail - r->prod.head);

	return space >= want ? space : prod_reload(r);
}

uint32_t dsm_ring_free(struct dsm_ring *r)
{
	return prod_reload(r);
}

uint32_t dsm_ring_produce(struct dsm_ring *r, const void *src, uint32_t n)
{
	n = min_u32(n, prod_space(r, n));
	if (n == 0)
		return 0;
	copy_in(r, r->prod.tail, src, n);
	r->prod.tail += n;
	/* (A) pairs with the consumer's (B): the entries copied above are
	 * visible to whoever sees the new tail. */
	__atomic_store_n(r->tail, r->prod.tail, __ATOMIC_RELEASE);
	r->prod.produced += n;
	return n;
}

bool dsm_ring_prod_needs_wakeup(struct dsm_ring *r)
{
	if (!r->need_wakeup)
		return true;
	/* (F) pairs with the consumer's (E): our tail store (A) is ordered
	 * before this load of flags, its flag store before its tail load, so
	 * either we see NEED_WAKEUP or it sees our entries. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (__atomic_load_n(r->flags, __ATOMIC_RELAXED) &
		DSM_RING_FL_NEED_WAKEUP) != 0;
}

/* ------------------------------------------------------------ consumer */

uint32_t dsm_ring_avail(struct dsm_ring *r)
{
	/* (B) pairs with the producer's (A): entries before tail are
	 * written. */
	uint32_t tail = __atomic_load_n(r->tail, __ATOMIC_ACQUIRE);
	uint32_t ready = tail - r->cons.head;

	if (ready > r->entries) {
		r->cons.corrupt++;
		return 0;
	}
	r->cons.tail = tail;
	return ready;
}

uint32_t dsm_ring_peek(struct dsm_ring *r, void *dst, uint32_t n)
{
	/* The cached tail was loaded with (B), so its entries are visible. */
	uint32_t ready = r->cons.tail - r->cons.head;

	if (ready < n)
		ready = dsm_ring_avail(r);
	n = min_u32(n, ready);
	copy_out(r, r->cons.head, dst, n);
	return n;
}

void dsm_ring_advance(struct dsm_ring *r, uint32_t n)
{
	/* Never release what the producer has not published. */
	n = min_u32(n, r->cons.tail - r->cons.head);
	if (n == 0)
		return;
	r->cons.head += n;
	/* (C) pairs with the producer's (D): our copies of the released
	 * slots are complete before it may reuse them. */
	__atomic_store_n(r->head, r->cons.head, __ATOMIC_RELEASE);
	r->cons.consumed += n;
}

uint32_t dsm_ring_consume(struct dsm_ring *r, void *dst, uint32_t n)
{
	n = dsm_ring_peek(r, dst, n);
	dsm_ring_advance(r, n);
	return n;
}

uint32_t dsm_ring_read(struct dsm_ring *r, void *dst, uint32_t n, uint32_t *nbad)
{
	uint8_t *d = dst;
	size_t sz = r->entry_size;
	uint32_t got = dsm_ring_consume(r, dst, n), keep = 0;

	for (uint32_t i = 0; i < got; i++) {
		enum dsm_ring_bad b = dsm_ring_check(r->id, d + i * sz);

		if (b != DSM_RING_OK) {
			r->cons.bad[b]++;
			continue;
		}
		if (keep != i)
			memcpy(d + keep * sz, d + i * sz, sz);
		keep++;
	}
	if (nbad != NULL)
		*nbad = got - keep;
	return keep;
}

uint32_t dsm_ring_cons_sleep_prepare(struct dsm_ring *r)
{
	if (r->need_wakeup) {
		r->cons.flags |= DSM_RING_FL_NEED_WAKEUP;
		__atomic_store_n(r->flags, r->cons.flags, __ATOMIC_RELAXED);
		/* (E) pairs with the producer's (F): the flag store is
		 * ordered before the tail load in dsm_ring_avail. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return dsm_ring_avail(r);
}

void dsm_ring_cons_awake(struct dsm_ring *r)
{
	if (!(r->cons.flags & DSM_RING_FL_NEED_WAKEUP))
		return;
	r->cons.flags &= ~DSM_RING_FL_NEED_WAKEUP;
	/* Relaxed: a producer that still sees the flag only costs one
	 * needless wake-up. */
	__atomic_store_n(r->flags, r->cons.flags, __ATOMIC_RELAXED);
}
