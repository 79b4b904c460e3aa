/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Membership views and epochs: the pure logic of the control plane.
 *
 * In etcd, under a cluster prefix:
 *   members/<id>  one key per live node, attached to that node's lease:
 *                 {"node":id,"incarnation":n}   (a restarted node has a new
 *                 incarnation, so a view can tell it from its old self)
 *   epoch         the current view: {"epoch":e,"members":[[id,n],...]}
 *
 * A view changes only by a compare-and-swap transaction on the epoch key
 * (expected mod_revision = the one read), so two nodes that notice the same
 * change at once produce one new epoch, not two: the loser re-reads and
 * finds nothing left to do.  These functions decide *what* to propose; the
 * agent does the etcd round trips.  No I/O, no clock, no allocation.
 */
#ifndef DSM_CONTROL_VIEW_H
#define DSM_CONTROL_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSM_VIEW_MAX 64   /* node ids are 1..63 */

struct dsm_member {
	uint16_t node;
	uint64_t incarnation;
};

struct dsm_view {
	uint64_t epoch;                        /* 0: no view yet */
	uint32_t n;                            /* members, sorted by node */
	struct dsm_member m[DSM_VIEW_MAX];
};

/* Sort and check a member list (ids 1..63, no id twice).  0 or -EINVAL. */
int dsm_view_normalize(struct dsm_view *v);

/* Is (node, incarnation) a member of v? */
bool dsm_view_has(const struct dsm_view *v, uint16_t node, uint64_t incarnation);

/* What to propose given the current view and the live registrations:
 * returns 1 and fills next (epoch + 1, members = live) if they differ,
 * 0 if the view already is the live set.  live must be normalized. */
int dsm_view_next(const struct dsm_view *cur, const struct dsm_view *live,
		  struct dsm_view *next);

/* Nodes of old that are not in new (left, died, or restarted with a new
 * incarnation): the ones every survivor writes off.  Returns the count. */
uint32_t dsm_view_departed(const struct dsm_view *old, const struct dsm_view *new_view,
			   struct dsm_member *out, uint32_t max);

/* JSON encoding of the epoch key's value and of a member registration.
 * encode: bytes written (without the NUL) or -ENOSPC; decode: 0, or -EPROTO
 * for anything malformed (unknown keys are ignored: a newer writer may add
 * some; int64 values may be numbers or strings). */
int dsm_view_encode(const struct dsm_view *v, char *buf, size_t len);
int dsm_view_decode(const char *json, size_t len, struct dsm_view *v);
int dsm_member_encode(const struct dsm_member *m, char *buf, size_t len);
int dsm_member_decode(const char *json, size_t len, struct dsm_member *m);

#endif /* DSM_CONTROL_VIEW_H */
