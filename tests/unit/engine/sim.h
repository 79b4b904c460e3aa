/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A deterministic multi-node simulator for the coherence engine tests.
 *
 * Several engine instances (node ids 1..n) exchange messages through one
 * FIFO channel per (src, dst) pair, the order the reliable channel
 * guarantees.  Delivery picks a channel either in a fixed order or at
 * random (reordering between different senders), and may duplicate or drop
 * messages, all driven by a seeded PRNG.  Actions are executed against
 * per-node page buffers: SEND copies the sender's page at send time, INSTALL
 * and ZERO write it, COMPLETE is logged.  A successful write completion
 * stores its user_data as a tag in the first 8 bytes of the page, as an
 * application would.
 */
#ifndef DSM_TEST_SIM_H
#define DSM_TEST_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/coherence.h"

#define SIM_MAX_NODES 5    /* ids 1..4 */
#define SIM_NSEGS     3
#define SIM_NPAGES    16
#define SIM_PS        64
#define SIM_QCAP      1024
#define SIM_MAX_COMP  65536

/* Segments every node knows: 7 homed at 1 (RW), 8 homed at 2 (RW),
 * 9 homed at 1 (read-only). */
#define SEG_A 7u
#define SEG_B 8u
#define SEG_RO 9u

struct sim_qmsg {
	struct dsm_msg m;
	uint8_t data[SIM_PS];
};

struct sim_chan {
	struct sim_qmsg q[SIM_QCAP];
	uint32_t head, count;
};

struct sim_comp {
	uint64_t ud;
	int status;
	uint8_t state;
	bool remote;
	uint16_t node;
};

struct sim;
typedef void (*sim_comp_fn)(struct sim *s, uint16_t node, const struct dsm_action *a);

struct sim_node {
	struct dsm_engine *e;
	uint8_t page[SIM_NSEGS][SIM_NPAGES][SIM_PS];
	uint32_t unmaps, protects, installs, zeros;
};

struct sim {
	int n;                       /* nodes 1..n */
	struct sim_node nodes[SIM_MAX_NODES];
	struct sim_chan chan[SIM_MAX_NODES][SIM_MAX_NODES];
	uint64_t now;
	uint64_t rng;
	bool random_order;           /* pick channels at random */
	uint32_t dup_pct, drop_pct;  /* per SEND */
	uint64_t sends, dups, drops, overflow, qfull;
	struct sim_comp comp[SIM_MAX_COMP];
	uint32_t ncomp;
	sim_comp_fn on_complete;
	void *ctx;
	struct dsm_actions acts;
};

struct sim *sim_new(int n, const struct dsm_engine_cfg *base, uint64_t seed);
void sim_free(struct sim *s);
uint64_t sim_rand(struct sim *s);

int sim_seg_index(uint32_t seg_id);
uint8_t *sim_page(struct sim *s, uint16_t node, uint32_t seg_id, uint64_t pgno);
uint64_t sim_tag(struct sim *s, uint16_t node, uint32_t seg_id, uint64_t pgno);

/* Execute out against node (as the caller of the engine would). */
void sim_exec(struct sim *s, uint16_t node, struct dsm_actions *out);

int sim_local(struct sim *s, uint16_t node, uint32_t seg, uint64_t pgno,
	      enum dsm_intent intent, uint64_t ud);
int sim_inject(struct sim *s, uint16_t node, const struct dsm_msg *m);
void sim_tick(struct sim *s, uint64_t now);
void sim_peer_down(struct sim *s, uint16_t node, uint16_t down);

uint32_t sim_queued(struct sim *s, uint16_t src, uint16_t dst);
uint32_t sim_queued_total(struct sim *s);
struct sim_qmsg *sim_peek(struct sim *s, uint16_t src, uint16_t dst);
int sim_deliver(struct sim *s, uint16_t src, uint16_t dst);
void sim_discard(struct sim *s, uint16_t src, uint16_t dst);
bool sim_step(struct sim *s, int *rc);
uint32_t sim_run(struct sim *s);

const struct sim_comp *sim_comp_of(struct sim *s, uint64_t ud);
uint32_t sim_ncomp_of(struct sim *s, uint64_t ud);

struct dsm_page_info sim_info(struct sim *s, uint16_t node, uint32_t seg,
			      uint64_t pgno);
const struct dsm_engine_stats *sim_stats(struct sim *s, uint16_t node);

#endif /* DSM_TEST_SIM_H */
